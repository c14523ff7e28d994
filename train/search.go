package train

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// search samples gbdt parameters at random from ranges that matter on this
// problem (random search: Bergstra and Bengio 2012 show it beats grid
// search when few parameters matter, as here). Log-uniform for scale
// parameters, uniform for fractions.
type search struct{ rng *rand.Rand }

func newSearch(seed int64) *search {
	return &search{rng: rand.New(rand.NewPCG(uint64(seed), 0x7472697063617374))}
}

func (s *search) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + s.rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

func (s *search) uniform(lo, hi float64) float64 { return lo + s.rng.Float64()*(hi-lo) }

func f(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

// sample draws one parameter set, as XGBoost parameter names and values.
func (s *search) sample() map[string]string {
	return map[string]string{
		"eta":              f(s.logUniform(0.03, 0.3)),
		"max_depth":        strconv.Itoa(4 + s.rng.IntN(9)), // 4..12
		"min_child_weight": f(s.logUniform(1, 30)),
		"lambda":           f(s.logUniform(0.1, 20)),
		"alpha":            f(s.logUniform(1e-3, 1)),
		"gamma":            f(s.uniform(0, 0.5)),
		"subsample":        f(s.uniform(0.5, 1)),
		"colsample_bytree": f(s.uniform(0.5, 1)),
		"max_bin":          []string{"64", "128", "256"}[s.rng.IntN(3)],
	}
}
