package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"tripcast"
	"tripcast/httpapi"
)

func TestReadiness(t *testing.T) {
	var champion atomic.Value
	champion.Store("4")
	var consumerErr, dbErr atomic.Value
	consumerErr.Store("")
	dbErr.Store("")
	check := func(v *atomic.Value) func(context.Context) error {
		return func(context.Context) error {
			if s := v.Load().(string); s != "" {
				return errors.New(s)
			}
			return nil
		}
	}
	e := MustServe(t, httpapi.Config{
		Champion: func(context.Context) (string, error) {
			if v := champion.Load().(string); v != "" {
				return v, nil
			}
			return "", tripcast.Errorf(tripcast.ENOTFOUND, "model has no champion alias yet")
		},
		Checks: []httpapi.Check{
			{Name: "consumer", Check: check(&consumerErr)},
			{Name: "database", Check: check(&dbErr), Critical: true},
		},
	})
	ready := func(t *testing.T) (int, httpapi.Readiness) {
		t.Helper()
		code, body := e.do(t, "GET", "/readyz", "", "")
		var rd httpapi.Readiness
		if err := json.Unmarshal([]byte(body), &rd); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		return code, rd
	}
	t.Run("ErrNoModel", func(t *testing.T) {
		code, rd := ready(t)
		if code != 503 || rd.Status != httpapi.StatusUnready || rd.Error != "no model loaded" || rd.Champion != "4" {
			t.Errorf("got %d %+v, want 503 unready, no model loaded, champion 4", code, rd)
		}
	})
	e.pred.Swap(linearModel{ver: "4"})
	t.Run("OK", func(t *testing.T) {
		code, rd := ready(t)
		if code != 200 || rd.Status != httpapi.StatusReady || rd.Version != "4" || rd.Champion != "4" ||
			rd.Checks["consumer"] != "ok" || rd.Checks["database"] != "ok" || len(rd.Warnings) != 0 {
			t.Errorf("got %d %+v, want 200 ready on the champion, checks ok", code, rd)
		}
	})
	t.Run("OKStaleChampion", func(t *testing.T) {
		champion.Store("5")
		defer champion.Store("4")
		code, rd := ready(t)
		if code != 200 || rd.Status != httpapi.StatusDegraded || rd.Version != "4" || rd.Champion != "5" ||
			len(rd.Warnings) != 1 || rd.Warnings[0] != "serving version 4 while champion is 5" {
			t.Errorf("got %d %+v, want 200 degraded: serving version 4 while champion is 5", code, rd)
		}
	})
	t.Run("OKNoChampion", func(t *testing.T) {
		champion.Store("")
		defer champion.Store("4")
		code, rd := ready(t)
		if code != 200 || rd.Status != httpapi.StatusDegraded || len(rd.Warnings) != 1 || !strings.Contains(rd.Warnings[0], "no champion alias") {
			t.Errorf("got %d %+v, want 200 degraded saying there is no champion", code, rd)
		}
	})
	t.Run("OKCheckFails", func(t *testing.T) {
		consumerErr.Store("no event handled for 5m0s while 120 wait")
		defer consumerErr.Store("")
		code, rd := ready(t)
		if code != 200 || rd.Status != httpapi.StatusDegraded || rd.Checks["consumer"] != "no event handled for 5m0s while 120 wait" {
			t.Errorf("got %d %+v, want 200 degraded with the consumer's reason", code, rd)
		}
	})
	t.Run("ErrCriticalCheckFails", func(t *testing.T) {
		dbErr.Store("database unreachable")
		defer dbErr.Store("")
		code, rd := ready(t)
		if code != 503 || rd.Status != httpapi.StatusUnready || rd.Checks["database"] != "database unreachable" {
			t.Errorf("got %d %+v, want 503 unready naming the database", code, rd)
		}
	})
}
