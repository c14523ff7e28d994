package main

import (
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/predlog"
)

// spool opens the request path's write-ahead spool in <data_dir>/spool,
// in front of next (predlog.Spool: an answered prediction survives kill -9;
// spool_sync_every bounds what a machine crash loses; spool_max_mb bounds
// the disk, 503 beyond). It is closed with the app, before next. reg gets
// tripcast_prediction_spool_bytes.
func (a *app) spool(reg prometheus.Registerer, next tripcast.PredictionLog) (*predlog.Spool, error) {
	s, err := predlog.OpenSpool(filepath.Join(a.cfg.DataDir, "spool"), next,
		predlog.SpoolOptions{SyncEvery: a.cfg.SpoolSyncInterval(), MaxBytes: a.cfg.SpoolMaxBytes(), Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.onClose(s.Close)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tripcast_prediction_spool_bytes",
		Help: "Bytes of answered HTTP predictions in the local spool, not yet confirmed in the prediction log (grows while the log cannot be written; 503 at spool_max_mb)."},
		func() float64 { return float64(s.Bytes()) }))
	return s, nil
}
