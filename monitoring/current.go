package monitoring

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"tripcast"
	"tripcast/model"
	"tripcast/monitor"
	"tripcast/tlc"
)

// TruthReader reads logged predictions joined to their ground truth (the
// ride's actual duration from ride_completed events) for a window. Package
// groundtruth implements it.
type TruthReader interface {
	// ReadJoined calls fn for every logged prediction q selects that has
	// a completion, with the actual duration in minutes; as
	// tripcast.PredictionReader, rec is valid only during the call and an
	// error from fn stops the read and is returned wrapped.
	ReadJoined(ctx context.Context, q tripcast.PredictionQuery, fn func(rec *tripcast.PredictionRecord, actualMinutes float64) error) error
}

// Current is one window's data in count form, ready to compare with a
// Reference.
type Current struct {
	Source  string
	Rows    int64 // rows profiled
	Profile *monitor.Profile
	// Quality is the model quality against ground truth; nil without it.
	Quality *monitor.ModelQuality
}

// The model-quality breakdown keys.
const (
	KeyHour    = "hour"
	KeyBorough = "borough"
)

// logColumns are the monitored columns a prediction log record carries.
var logColumns = []string{monitor.ColPULocation, monitor.ColDOLocation, monitor.ColDistance, monitor.ColHour, monitor.ColPrediction}

// specs returns the TripSpecs columns named in names, in names' order.
func specs(names ...string) []monitor.ColumnSpec {
	all := monitor.TripSpecs(true)
	out := make([]monitor.ColumnSpec, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(all, func(s monitor.ColumnSpec) bool { return s.Name == n })
		out = append(out, all[i])
	}
	return out
}

// qualityKeys returns the breakdown keys: the pickup hour, and the pickup
// borough when zones are known.
func qualityKeys(zones *tlc.Zones) []string {
	if zones == nil {
		return []string{KeyHour}
	}
	return []string{KeyHour, KeyBorough}
}

// groupKeys fills keys (the buffer of qualityKeys' length) for a ride.
func groupKeys(keys []string, hour float64, pu int, zones *tlc.Zones) []string {
	keys[0] = "unknown"
	if !math.IsNaN(hour) {
		keys[0] = strconv.Itoa(int(hour))
	}
	if zones != nil {
		keys[1] = "unknown"
		if z, ok := zones.Lookup(pu); ok {
			keys[1] = z.Borough
		}
	}
	return keys
}

// ReadLog profiles the window q of the prediction log: zones, distance,
// pickup hour and prediction of every record. With truth (may be nil) the
// joined rows add the actual duration column (target drift) and the model
// quality, broken down by pickup hour (and borough with zones, may be nil).
// Memory is that of the count tables, whatever the window's size.
func ReadLog(ctx context.Context, log tripcast.PredictionReader, truth TruthReader, zones *tlc.Zones, q tripcast.PredictionQuery) (*Current, error) {
	b, err := monitor.NewBuilder(specs(logColumns...))
	if err != nil {
		return nil, err
	}
	cur := &Current{Source: "prediction log"}
	row := make([]float64, len(logColumns))
	err = log.ReadPredictions(ctx, q, func(r *tripcast.PredictionRecord) error {
		row[0], row[1] = zoneValue(r.PULocationID), zoneValue(r.DOLocationID)
		row[2], row[3], row[4] = r.TripDistance, pickupHour(r), r.Prediction
		b.AddRow(row)
		cur.Rows++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read prediction log: %w", err)
	}
	p := b.Profile()
	if truth != nil {
		tb, err := monitor.NewBuilder(specs(monitor.ColDuration))
		if err != nil {
			return nil, err
		}
		acc := monitor.NewModelAccumulator(qualityKeys(zones), 0)
		keys := make([]string, len(qualityKeys(zones)))
		actual := make([]float64, 1)
		err = truth.ReadJoined(ctx, q, func(r *tripcast.PredictionRecord, minutes float64) error {
			actual[0] = minutes
			tb.AddRow(actual)
			acc.Add(r.Prediction, minutes, groupKeys(keys, pickupHour(r), r.PULocationID, zones)...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read ground truth: %w", err)
		}
		p.Columns = append(p.Columns, tb.Profile().Columns...)
		cur.Quality = acc.Result()
		cur.Source = "prediction log with ground truth"
	}
	cur.Profile = p
	return cur, nil
}

// zoneValue is a zone ID as a column value, NaN (missing) when unknown.
func zoneValue(id int) float64 {
	if id <= 0 {
		return math.NaN()
	}
	return float64(id)
}

// pickupHour is the record's pickup hour (wall clock, as written in the
// event), NaN when the event carried no pickup time.
func pickupHour(r *tripcast.PredictionRecord) float64 {
	if r.PickupTime.IsZero() {
		return math.NaN()
	}
	return float64(r.PickupTime.Hour())
}

// ScoreTrips profiles a month (or any trips) scored on the spot by a: every
// TLC column TripSpecs monitors, the prediction, and, the month's actual
// durations being ground truth, the model quality. EINVALID when a cannot
// score t.
func ScoreTrips(a *model.Artifact, t *tripcast.Trips, zones *tlc.Zones, source string) (*Current, error) {
	pred := make([]float64, t.Len())
	if t.Len() > 0 {
		if err := a.PredictTrips(t, pred); err != nil {
			return nil, fmt.Errorf("score %s: %w", source, err)
		}
	}
	cols := monitor.TripColumns(t)
	cols[monitor.ColPrediction] = pred
	p, err := monitor.NewProfile(monitor.TripSpecs(true), cols)
	if err != nil {
		return nil, err
	}
	cur := &Current{Source: source, Rows: int64(t.Len()), Profile: p}
	if len(t.Duration) == t.Len() {
		keys := qualityKeys(zones)
		acc := monitor.NewModelAccumulator(keys, 0)
		buf := make([]string, len(keys))
		hours := cols[monitor.ColHour]
		for i := range pred {
			acc.Add(pred[i], t.Duration[i], groupKeys(buf, hours[i], int(t.PULocationID[i]), zones)...)
		}
		cur.Quality = acc.Result()
	}
	return cur, nil
}

// Compare reports cur against ref: drift of the columns both have (a window
// of the prediction log has no fares), data quality, prediction drift, and
// with ground truth the model quality against the reference's validation
// figures.
func Compare(ref *Reference, cur *Current, opt monitor.Options) (*monitor.Report, error) {
	if opt.Drift.Columns == nil {
		for _, c := range ref.Profile.Columns {
			if cur.Profile.Column(c.Name) != nil {
				opt.Drift.Columns = append(opt.Drift.Columns, c.Name)
			}
		}
	}
	r, err := monitor.NewReport(ref.Profile, cur.Profile, opt)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if cur.Quality != nil {
		r.SetModelQuality(cur.Quality)
	}
	if ref.Validation != nil {
		r.SetValidation(*ref.Validation)
	}
	return r, nil
}

// ReferenceFromCurrent makes a scored month (ScoreTrips) a reference: its
// profile, and its model figures as the validation figures.
func ReferenceFromCurrent(cur *Current) *Reference {
	ref := &Reference{Version: ReferenceVersion, Source: cur.Source, Profile: cur.Profile, Rows: cur.Rows}
	if q := cur.Quality; q != nil && q.RMSE != nil && q.MAE != nil && q.R2 != nil {
		ref.Validation = &monitor.Validation{RMSE: *q.RMSE, MAE: *q.MAE, R2: *q.R2}
	}
	return ref
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
