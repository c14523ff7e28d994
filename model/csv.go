package model

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"tripcast"
	"tripcast/serve"
)

// rideColumns are the input columns of a ride; pickup_datetime is optional.
var rideColumns = []string{"PULocationID", "DOLocationID", "trip_distance", "pickup_datetime"}

// PredictCSV reads rows from r and writes one prediction per row to w, as
// CSV with the header "prediction".
//
// The input's header names the columns; their order does not matter and
// extra columns are ignored. Two layouts are accepted:
//   - the model's feature columns (tripcast models show lists them), for a
//     gbdt model: an empty cell is a missing value. A model file that names
//     no features (XGBoost without feature_names) takes the columns in file
//     order.
//   - ride columns, for any model that carries its feature spec (every
//     model tripcast trains): PULocationID, DOLocationID, trip_distance and
//     optionally pickup_datetime, read and validated as a ride event's
//     fields are (serve.ParseRide: plain decimal numbers, zones in 1..265,
//     distance in 0..500 miles, pickup time as serve.ParseTime reads it; an
//     empty pickup is unknown), featurised exactly as serving does.
func (a *Artifact) PredictCSV(r io.Reader, w io.Writer) (rows int, err error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return 0, tripcast.Errorf(tripcast.EINVALID, "input CSV: no header: %v", err)
	}
	header = slices.Clone(header) // ReuseRecord: the next Read overwrites it
	feat, featErr := a.featureColumns(header)
	rideIdx, rideErr := columns(header, rideColumns[:3])
	timeIdx := slices.Index(header, rideColumns[3])
	var predict func(rec []string, line int) (float64, error)
	switch {
	case featErr == nil:
		row := make([]float32, len(feat))
		predict = func(rec []string, line int) (float64, error) {
			for i, j := range feat {
				v, err := parseCell(rec[j], header[j], line)
				if err != nil {
					return 0, err
				}
				row[i] = float32(v)
			}
			return float64(a.GBDT.Predict(row)), nil
		}
	case rideErr == nil && (a.Spec != nil || a.Kind == Linear):
		predict = func(rec []string, line int) (float64, error) {
			r, err := parseRide(rec, rideIdx, timeIdx, line)
			if err != nil {
				return 0, err
			}
			return a.Predict(r)
		}
	case a.Spec != nil || a.Kind == Linear:
		return 0, rideErr
	default:
		return 0, featErr
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("prediction\n")
	var num [32]byte
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, tripcast.Errorf(tripcast.EINVALID, "input CSV: %v", err)
		}
		y, err := predict(rec, line)
		if err != nil {
			return rows, err
		}
		bw.Write(strconv.AppendFloat(num[:0], y, 'g', -1, 32))
		bw.WriteByte('\n')
		rows++
	}
	if err := bw.Flush(); err != nil {
		return rows, fmt.Errorf("write predictions: %w", err)
	}
	return rows, nil
}

// featureColumns maps the model's features to header positions.
func (a *Artifact) featureColumns(header []string) ([]int, error) {
	if a.Kind != GBDT {
		return nil, tripcast.Errorf(tripcast.EINVALID, "a %s model reads ride columns", a.Kind)
	}
	names := a.FeatureNames()
	if len(names) > 0 {
		return columns(header, names)
	}
	// A foreign model without feature names: columns in file order.
	if n := len(a.GBDT.Categorical()); len(header) != n {
		return nil, tripcast.Errorf(tripcast.EINVALID, "input CSV: the model names no features and has %d; the file has %d columns", n, len(header))
	}
	idx := make([]int, len(header))
	for i := range idx {
		idx[i] = i
	}
	return idx, nil
}

// columns returns the positions of names in header; the error names the
// first missing column.
func columns(header, names []string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		j := slices.Index(header, n)
		if j < 0 {
			return nil, tripcast.FieldError(n, "input CSV has no column %q (the model needs %v)", n, names)
		}
		idx[i] = j
	}
	return idx, nil
}

func parseCell(cell, name string, line int) (float64, error) {
	if cell == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(cell, 64)
	if err != nil {
		return 0, tripcast.FieldError(name, "input CSV line %d: %q is not a number", line, cell)
	}
	return v, nil
}

// parseRide reads a row of ride columns as serve.ParseRide does: the same
// numeric strings, ranges and pickup times as a ride event.
func parseRide(rec []string, idx []int, timeIdx, line int) (tripcast.Ride, error) {
	pickup := ""
	if timeIdx >= 0 {
		pickup = rec[timeIdx]
	}
	r, err := serve.ParseRide(rec[idx[0]], rec[idx[1]], rec[idx[2]], pickup)
	if err != nil {
		return r, tripcast.FieldError(tripcast.ErrorField(err), "input CSV line %d: %s", line, tripcast.ErrorMessage(err))
	}
	return r, nil
}
