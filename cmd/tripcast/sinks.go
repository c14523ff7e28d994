package main

import (
	"strings"
	"time"

	"tripcast"
	"tripcast/predlog"
)

// predictionSinks returns the opt-in prediction logs that prediction_sinks
// names beside the metadata database and the parquet log (always written):
// "objects" is the seed's layout, one JSON object per prediction
// (predlog.ObjectLog), buffered like the others and closed with the app.
func (a *app) predictionSinks(store tripcast.BlobStore) ([]tripcast.PredictionLog, error) {
	var out []tripcast.PredictionLog
	for _, name := range strings.Split(a.cfg.PredictionSinks, ",") {
		switch strings.TrimSpace(name) {
		case "", "parquet":
		case "objects":
			w := predlog.Buffered(predlog.NewObjectLog(store, predlog.ObjectOptions{Logger: a.log}),
				predlog.Options{Logger: a.log, FlushInterval: time.Second})
			a.onClose(w.Close)
			out = append(out, w)
		default:
			return nil, tripcast.FieldError("prediction_sinks", "unknown sink %q: use parquet, or parquet,objects", name)
		}
	}
	return out, nil
}
