// Package linear is tripcast's baseline model: the MLOps course's
// DictVectorizer + LinearRegression, that is a linear model over a one-hot
// pickup_dropoff zone pair ("PU_DO") plus trip_distance and an intercept,
// fitted as ridge regression with a tiny penalty so that it is always
// well-posed.
//
// The one-hot pair columns are mutually exclusive (every trip has exactly one
// pair), so XᵀX is block-diagonal in the pair coefficients, bordered by the
// distance column and the intercept. Train eliminates the pair block in
// closed form and solves the remaining 2×2 Schur complement: the exact ridge
// solution in one pass over the data and O(pairs) memory, where a dense
// solver would need a (pairs+2)² matrix.
package linear

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"tripcast"
)

// NumZones bounds the taxi zone IDs the model can hold a pair for: 0..265.
const NumZones = 266

// DefaultAlpha is the ridge penalty used by the course-compatible baseline:
// small enough that predictions equal sklearn's unpenalised
// LinearRegression to many digits, large enough to make the intercept
// identifiable (the pair one-hots sum to the intercept column).
const DefaultAlpha = 1e-6

// Model is a fitted ridge model: duration = Intercept + Distance·miles +
// pair[PU,DO], where unseen pairs contribute 0 (as DictVectorizer ignores
// unseen feature values).
type Model struct {
	Alpha     float64 // ridge penalty used in training
	Intercept float64 // minutes
	Distance  float64 // minutes per mile
	Rows      int     // training rows
	// Pairs holds the coefficient of each pair seen in training, sorted by
	// (PU, DO).
	Pairs []Pair

	pair []float64 // dense NumZones×NumZones lookup, 0 for unseen pairs
}

// Pair is the coefficient of one pickup/dropoff zone pair.
type Pair struct {
	PU    int     `json:"pu"`
	DO    int     `json:"do"`
	Coef  float64 `json:"coef"`
	Count int     `json:"n"` // training rows with this pair
}

// Train fits the ridge model on trips (label: Duration) with penalty alpha
// > 0 on the pair and distance coefficients; the intercept is not penalised,
// as in sklearn's Ridge. Rows with a zone outside 0..265 or a non-finite
// distance or duration are rejected with an EINVALID error.
func Train(t *tripcast.Trips, alpha float64) (*Model, error) {
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, tripcast.FieldError("alpha", "must be a positive number, got %v", alpha)
	}
	n := t.Len()
	if n == 0 {
		return nil, tripcast.FieldError("trips", "no rows to train on")
	}
	if len(t.DOLocationID) != n || len(t.TripDistance) != n || len(t.Duration) != n {
		return nil, tripcast.Errorf(tripcast.EINVALID, "trips columns have different lengths")
	}

	// First pass: per pair count and means of distance and duration.
	const P = NumZones * NumZones
	cnt := make([]float64, P)
	sd := make([]float64, P)
	sy := make([]float64, P)
	for i := range n {
		pu, do := int(t.PULocationID[i]), int(t.DOLocationID[i])
		d, y := t.TripDistance[i], t.Duration[i]
		if pu < 0 || pu >= NumZones || do < 0 || do >= NumZones {
			return nil, tripcast.FieldError("PULocationID", "row %d: zone pair (%d, %d) outside 0..%d", i, pu, do, NumZones-1)
		}
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return nil, tripcast.FieldError("trip_distance", "row %d: not a finite number", i)
		}
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, tripcast.FieldError("duration", "row %d: not a finite number", i)
		}
		k := pu*NumZones + do
		cnt[k]++
		sd[k] += d
		sy[k] += y
	}
	// Second pass: within-pair centred sums Σ(d-d̄)² and Σ(d-d̄)(y-ȳ), for
	// precision (the raw sums cancel badly for pairs of near-equal trips).
	var sdd, sdy float64
	for i := range n {
		k := int(t.PULocationID[i])*NumZones + int(t.DOLocationID[i])
		dc := t.TripDistance[i] - sd[k]/cnt[k]
		yc := t.Duration[i] - sy[k]/cnt[k]
		sdd += dc * dc
		sdy += dc * yc
	}

	// Normal equations, with c_p the pair coefficients, w the distance
	// coefficient, b the intercept, n_p, D_p, Y_p the pair's count, Σd, Σy:
	//   (n_p+α) c_p + D_p w + n_p b = Y_p
	//   Σ D_p c_p + (Σd²+α) w + Σd b = Σdy
	//   Σ n_p c_p + Σd w + N b       = Σy
	// Eliminating c_p = (Y_p - D_p w - n_p b)/(n_p+α) leaves a 2×2 system.
	// Written with r_p = α/(n_p+α) and the within-pair sums it reads
	//   [Sdd + α + Σ D_p²r_p/n_p    Σ D_p r_p] [w]   [Sdy + Σ D_p Y_p r_p/n_p]
	//   [Σ D_p r_p                  Σ n_p r_p] [b] = [Σ Y_p r_p             ]
	// and the intercept row, divided by α, stays well conditioned as α → 0.
	var a11, a12, a22, r1, r2 float64
	a11 = sdd + alpha
	r1 = sdy
	for k := range P {
		np := cnt[k]
		if np == 0 {
			continue
		}
		inv := 1 / (np + alpha) // r_p / α
		a11 += alpha * sd[k] * sd[k] * inv / np
		a12 += sd[k] * inv
		a22 += np * inv
		r1 += alpha * sd[k] * sy[k] * inv / np
		r2 += sy[k] * inv
	}
	// The intercept row was divided by α: scale a12 in the first row back.
	// Row 1: a11 w + α·a12 b = r1; row 2: a12 w + a22 b = r2.
	det := a11*a22 - alpha*a12*a12
	if det == 0 || math.IsNaN(det) {
		return nil, tripcast.Errorf(tripcast.EINVALID, "ridge system is singular (alpha %v)", alpha)
	}
	w := (r1*a22 - alpha*a12*r2) / det
	b := (a11*r2 - a12*r1) / det

	m := &Model{Alpha: alpha, Intercept: b, Distance: w, Rows: n, pair: make([]float64, P)}
	for k := range P {
		if cnt[k] == 0 {
			continue
		}
		c := (sy[k] - sd[k]*w - cnt[k]*b) / (cnt[k] + alpha)
		m.pair[k] = c
		m.Pairs = append(m.Pairs, Pair{PU: k / NumZones, DO: k % NumZones, Coef: c, Count: int(cnt[k])})
	}
	return m, nil
}

// Predict returns the predicted duration in minutes of one ride. A pair not
// seen in training, or a zone outside 0..265, contributes 0.
func (m *Model) Predict(r tripcast.Ride) float64 {
	return m.predict(r.PULocationID, r.DOLocationID, r.TripDistance)
}

func (m *Model) predict(pu, do int, dist float64) float64 {
	y := m.Intercept + m.Distance*dist
	if pu >= 0 && pu < NumZones && do >= 0 && do < NumZones {
		y += m.pair[pu*NumZones+do]
	}
	return y
}

// PredictTrips writes the prediction of every trip of t into out, which must
// have t.Len() elements.
func (m *Model) PredictTrips(t *tripcast.Trips, out []float64) {
	n := t.Len()
	if len(out) != n {
		panic(fmt.Sprintf("linear: PredictTrips: len(out) = %d, want %d", len(out), n))
	}
	for i := range n {
		out[i] = m.predict(int(t.PULocationID[i]), int(t.DOLocationID[i]), t.TripDistance[i])
	}
}

// modelJSON is the file layout of a linear model.
type modelJSON struct {
	Type      string  `json:"type"`
	Alpha     float64 `json:"alpha"`
	Intercept float64 `json:"intercept"`
	Distance  float64 `json:"trip_distance"`
	Rows      int     `json:"rows"`
	Pairs     []Pair  `json:"pairs"`
}

// modelType names the layout in the JSON file.
const modelType = "tripcast.linear.ridge/v1"

// WriteJSON writes the model as JSON.
func (m *Model) WriteJSON(w io.Writer) error {
	err := json.NewEncoder(w).Encode(modelJSON{
		Type: modelType, Alpha: m.Alpha, Intercept: m.Intercept, Distance: m.Distance,
		Rows: m.Rows, Pairs: m.Pairs,
	})
	if err != nil {
		return fmt.Errorf("write linear model: %w", err)
	}
	return nil
}

// ReadJSON reads a model written by WriteJSON. A malformed file is an
// EINVALID error saying what is wrong.
func ReadJSON(r io.Reader) (*Model, error) {
	var j modelJSON
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "read linear model", Err: err}
	}
	if j.Type != modelType {
		return nil, tripcast.FieldError("type", "got %q, want %q", j.Type, modelType)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"alpha", j.Alpha}, {"intercept", j.Intercept}, {"trip_distance", j.Distance}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, tripcast.FieldError(f.name, "not a finite number")
		}
	}
	m := &Model{Alpha: j.Alpha, Intercept: j.Intercept, Distance: j.Distance, Rows: j.Rows,
		Pairs: j.Pairs, pair: make([]float64, NumZones*NumZones)}
	seen := make([]bool, NumZones*NumZones)
	for i, p := range j.Pairs {
		if p.PU < 0 || p.PU >= NumZones || p.DO < 0 || p.DO >= NumZones {
			return nil, tripcast.FieldError(fmt.Sprintf("pairs[%d]", i), "zone pair (%d, %d) outside 0..%d", p.PU, p.DO, NumZones-1)
		}
		if math.IsNaN(p.Coef) || math.IsInf(p.Coef, 0) {
			return nil, tripcast.FieldError(fmt.Sprintf("pairs[%d].coef", i), "not a finite number")
		}
		k := p.PU*NumZones + p.DO
		if seen[k] {
			return nil, tripcast.FieldError(fmt.Sprintf("pairs[%d]", i), "duplicate zone pair (%d, %d)", p.PU, p.DO)
		}
		seen[k] = true
		m.pair[k] = p.Coef
	}
	m.Pairs = slices.Clone(m.Pairs)
	return m, nil
}

// TrainCourse fits the model the way the MLOps course did, to reproduce its
// numbers: sklearn's LinearRegression on DictVectorizer's sparse output,
// which centres the columns implicitly and runs scipy's LSQR with its
// default tolerances (atol = btol = 1e-6, conlim = 1e8, at most 2·columns
// iterations). LSQR stops on its relative-residual test long before the
// least-squares solution (27 iterations on green 2021-01), so this model is
// worse than Train's exact one: validation RMSE 7.76 on 2021-02, the
// course's figure, against 7.48 for the exact solution. It exists for that
// comparison; use Train for a baseline.
func TrainCourse(t *tripcast.Trips) (*Model, error) {
	n := t.Len()
	if n == 0 {
		return nil, tripcast.FieldError("trips", "no rows to train on")
	}
	if len(t.DOLocationID) != n || len(t.TripDistance) != n || len(t.Duration) != n {
		return nil, tripcast.Errorf(tripcast.EINVALID, "trips columns have different lengths")
	}
	// Columns: one per pair seen (compact index), then trip_distance.
	index := make([]int32, NumZones*NumZones)
	for i := range index {
		index[i] = -1
	}
	col := make([]int32, n)
	var keys []int
	var ymean float64
	for i := range n {
		pu, do := int(t.PULocationID[i]), int(t.DOLocationID[i])
		if pu < 0 || pu >= NumZones || do < 0 || do >= NumZones {
			return nil, tripcast.FieldError("PULocationID", "row %d: zone pair (%d, %d) outside 0..%d", i, pu, do, NumZones-1)
		}
		if d := t.TripDistance[i]; math.IsNaN(d) || math.IsInf(d, 0) {
			return nil, tripcast.FieldError("trip_distance", "row %d: not a finite number", i)
		}
		if y := t.Duration[i]; math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, tripcast.FieldError("duration", "row %d: not a finite number", i)
		}
		k := pu*NumZones + do
		if index[k] < 0 {
			index[k] = int32(len(keys))
			keys = append(keys, k)
		}
		col[i] = index[k]
		ymean += t.Duration[i]
	}
	ymean /= float64(n)
	p := len(keys) + 1
	dcol := p - 1
	// Column means (the offsets sklearn subtracts).
	off := make([]float64, p)
	for i := range n {
		off[col[i]]++
		off[dcol] += t.TripDistance[i]
	}
	for j := range off {
		off[j] /= float64(n)
	}
	// Centred operator: A v = X v - (off·v), Aᵀu = Xᵀu - off·Σu.
	matvec := func(v, out []float64) {
		var ov float64
		for j, o := range off {
			ov += o * v[j]
		}
		for i := range n {
			out[i] = v[col[i]] + v[dcol]*t.TripDistance[i] - ov
		}
	}
	rmatvec := func(u, out []float64) {
		clear(out)
		var su float64
		for i, x := range u {
			out[col[i]] += x
			out[dcol] += x * t.TripDistance[i]
			su += x
		}
		for j, o := range off {
			out[j] -= o * su
		}
	}
	b := make([]float64, n)
	for i := range n {
		b[i] = t.Duration[i] - ymean
	}
	x := lsqr(n, p, matvec, rmatvec, b, 1e-6, 1e-6, 1e8, 2*p)
	m := &Model{Intercept: ymean, Distance: x[dcol], Rows: n, pair: make([]float64, NumZones*NumZones)}
	for j, o := range off {
		m.Intercept -= o * x[j]
	}
	cnt := make([]int, len(keys))
	for _, c := range col {
		cnt[c]++
	}
	order := make([]int, len(keys))
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(a, b int) int { return keys[a] - keys[b] })
	for _, j := range order {
		k := keys[j]
		m.pair[k] = x[j]
		m.Pairs = append(m.Pairs, Pair{PU: k / NumZones, DO: k % NumZones, Coef: x[j], Count: cnt[j]})
	}
	return m, nil
}

// lsqr is Paige and Saunders' LSQR without damping, step for step as scipy
// implements it (including its stopping tests), for the m×n operator given
// by matvec (A v) and rmatvec (Aᵀ u). It returns the iterate at which scipy
// would stop.
func lsqr(m, n int, matvec, rmatvec func(in, out []float64), b []float64, atol, btol, conlim float64, iterLim int) []float64 {
	const eps = 2.220446049250313e-16
	norm := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s)
	}
	scale := func(v []float64, a float64) {
		for i := range v {
			v[i] *= a
		}
	}
	x := make([]float64, n)
	u := slices.Clone(b)
	v := make([]float64, n)
	tmpM := make([]float64, m)
	tmpN := make([]float64, n)
	ctol := 0.0
	if conlim > 0 {
		ctol = 1 / conlim
	}
	var anorm, ddnorm, xnorm, xxnorm, z float64
	cs2, sn2 := -1.0, 0.0
	bnorm := norm(b)
	beta := bnorm
	alfa := 0.0
	if beta > 0 {
		scale(u, 1/beta)
		rmatvec(u, v)
		alfa = norm(v)
	}
	if alfa > 0 {
		scale(v, 1/alfa)
	}
	w := slices.Clone(v)
	rhobar, phibar := alfa, beta
	if alfa*beta == 0 {
		return x
	}
	for itn := 1; itn <= iterLim; itn++ {
		matvec(v, tmpM)
		for i := range u {
			u[i] = tmpM[i] - alfa*u[i]
		}
		beta = norm(u)
		if beta > 0 {
			scale(u, 1/beta)
			anorm = math.Sqrt(anorm*anorm + alfa*alfa + beta*beta)
			rmatvec(u, tmpN)
			for i := range v {
				v[i] = tmpN[i] - beta*v[i]
			}
			alfa = norm(v)
			if alfa > 0 {
				scale(v, 1/alfa)
			}
		}
		cs, sn, rho := symOrtho(rhobar, beta)
		theta := sn * alfa
		rhobar = -cs * alfa
		phi := cs * phibar
		phibar = sn * phibar
		tau := sn * phi

		t1, t2 := phi/rho, -theta/rho
		var dk2 float64
		for i := range x {
			dk := w[i] / rho
			dk2 += dk * dk
			x[i] += t1 * w[i]
			w[i] = v[i] + t2*w[i]
		}
		ddnorm += dk2

		delta := sn2 * rho
		gambar := -cs2 * rho
		rhs := phi - delta*z
		zbar := rhs / gambar
		xnorm = math.Sqrt(xxnorm + zbar*zbar)
		gamma := math.Hypot(gambar, theta)
		cs2, sn2 = gambar/gamma, theta/gamma
		z = rhs / gamma
		xxnorm += z * z

		acond := anorm * math.Sqrt(ddnorm)
		rnorm := math.Abs(phibar)
		arnorm := alfa * math.Abs(tau)
		test1 := rnorm / bnorm
		test2 := arnorm / (anorm*rnorm + eps)
		test3 := 1 / (acond + eps)
		t1 = test1 / (1 + anorm*xnorm/bnorm)
		rtol := btol + atol*anorm*xnorm/bnorm
		if 1+test3 <= 1 || 1+test2 <= 1 || 1+t1 <= 1 || test3 <= ctol || test2 <= atol || test1 <= rtol {
			break
		}
	}
	return x
}

// symOrtho is a stable Givens rotation: c, s, r with [c s; -s c]ᵀ[a b] = [r 0].
func symOrtho(a, b float64) (c, s, r float64) {
	switch {
	case b == 0:
		return sign(a), 0, math.Abs(a)
	case a == 0:
		return 0, sign(b), math.Abs(b)
	case math.Abs(b) > math.Abs(a):
		tau := a / b
		s = sign(b) / math.Sqrt(1+tau*tau)
		c = s * tau
		return c, s, b / s
	default:
		tau := b / a
		c = sign(a) / math.Sqrt(1+tau*tau)
		s = c * tau
		return c, s, a / c
	}
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
