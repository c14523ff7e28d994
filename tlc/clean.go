package tlc

import (
	"errors"
	"fmt"
	"math"
	"time"

	"tripcast"
)

// NullTime is the value Read stores for a null pickup or dropoff time.
const NullTime = math.MinInt64

// Clean keeps the trips of t that pass rule, computes their Duration
// (minutes) and returns them as a new batch; t is not modified. month
// (YYYY-MM) is the file's month, required by RuleDefault. rep, when not nil,
// receives the counts (RowsRead, RowsKept, Dropped, Rule).
//
// Checks run in this order and a dropped row counts under the first it fails:
//  1. duration_out_of_range: pickup or dropoff null, or duration outside
//     1..60 minutes (both rules; the course rule is only this check);
//  2. pickup_outside_month: the pickup is not in month;
//  3. null_required: PULocationID, DOLocationID or trip_distance null;
//  4. zone_unknown: a location ID outside 1..265;
//  5. distance_negative: trip_distance < 0;
//  6. distance_absurd: trip_distance > MaxDistance (100 miles).
//
// Clean fails when no row is left.
func Clean(t *tripcast.Trips, rule Rule, month string, rep *Report) (*tripcast.Trips, error) {
	trips, _, err := clean(t, rule, month, rep, false)
	return trips, err
}

// clean is Clean that also returns the indexes in t of the kept trips; with
// inPlace it compacts t's own slices instead of allocating new ones (Load
// owns the batch it read and drops it after).
func clean(t *tripcast.Trips, rule Rule, month string, rep *Report, inPlace bool) (*tripcast.Trips, []int32, error) {
	if rep == nil {
		rep = &Report{}
	}
	var lo, hi int64 // the month's pickups: [lo, hi) in Unix microseconds
	if rule == RuleDefault {
		m, err := time.Parse("2006-01", month)
		if err != nil {
			return nil, nil, tripcast.FieldError("month", "the default rule needs the file's month as YYYY-MM, got %q (name the file <color>_tripdata_YYYY-MM.parquet or give the month)", month)
		}
		lo, hi = m.UnixMicro(), m.AddDate(0, 1, 0).UnixMicro()
	} else if rule != RuleCourse {
		return nil, nil, fmt.Errorf("clean: unknown rule %d", int(rule))
	}
	n := t.Len()
	rep.Rule = rule.String()
	rep.RowsRead = n
	rep.Dropped = make(map[string]int)
	for _, r := range rule.Reasons() {
		rep.Dropped[r] = 0
	}

	// One pass decides each row; the kept rows are then gathered column by
	// column. Counts live in an array, not the map, on the hot loop.
	var counts [6]int
	keep := make([]int32, 0, n)
	dur := make([]float64, 0, n)
	for i := range n {
		reason := -1
		p, d := t.Pickup[i], t.Dropoff[i]
		minutes := math.NaN()
		if p != NullTime && d != NullTime {
			minutes = float64(d-p) / 60e6
		}
		switch {
		case !(minutes >= 1 && minutes <= 60): // NaN fails too
			reason = 0
		case rule == RuleCourse:
		case p < lo || p >= hi:
			reason = 1
		case t.PULocationID[i] == 0 || t.DOLocationID[i] == 0 || math.IsNaN(t.TripDistance[i]):
			reason = 2
		case !knownZone(t.PULocationID[i]) || !knownZone(t.DOLocationID[i]):
			reason = 3
		case t.TripDistance[i] < 0:
			reason = 4
		case t.TripDistance[i] > MaxDistance:
			reason = 5
		}
		if reason >= 0 {
			counts[reason]++
			continue
		}
		keep = append(keep, int32(i))
		dur = append(dur, minutes)
	}
	for k, r := range rule.Reasons() {
		rep.Dropped[r] = counts[k]
	}
	rep.RowsKept = len(keep)
	if len(keep) == 0 {
		return nil, nil, errors.New("no rows left after cleaning (" + rule.String() + " rule)")
	}
	return &tripcast.Trips{
		Pickup:         gather(t.Pickup, keep, inPlace),
		Dropoff:        gather(t.Dropoff, keep, inPlace),
		PULocationID:   gather(t.PULocationID, keep, inPlace),
		DOLocationID:   gather(t.DOLocationID, keep, inPlace),
		TripDistance:   gather(t.TripDistance, keep, inPlace),
		PassengerCount: gather(t.PassengerCount, keep, inPlace),
		FareAmount:     gather(t.FareAmount, keep, inPlace),
		TotalAmount:    gather(t.TotalAmount, keep, inPlace),
		Duration:       dur,
	}, keep, nil
}

func knownZone(id int32) bool { return id >= MinZoneID && id <= MaxZoneID }

// gather returns src[keep[0]], src[keep[1]], ... (keep is increasing); in
// place, it overwrites src's prefix.
func gather[T any](src []T, keep []int32, inPlace bool) []T {
	out := src[:len(keep)]
	if !inPlace {
		out = make([]T, len(keep))
	}
	for j, i := range keep {
		out[j] = src[i]
	}
	return out
}
