package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"tripcast"
)

func TestMonitorFigures(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		day := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
		fig := func(d int, name string, v float64) tripcast.MonitorFigure {
			s := day.AddDate(0, 0, d)
			return tripcast.MonitorFigure{WindowStart: s, WindowEnd: s.AddDate(0, 0, 1), Model: "m", Version: "2", Name: name, Value: v}
		}
		t.Run("OK", func(t *testing.T) {
			if err := db.PutMonitorFigures(ctx, []tripcast.MonitorFigure{fig(0, "rmse", 6), fig(0, "prediction_drift", 0.2), fig(1, "rmse", 7)}); err != nil {
				t.Fatal(err)
			}
			// A window reported again replaces its figures.
			if err := db.PutMonitorFigures(ctx, []tripcast.MonitorFigure{fig(1, "rmse", 8)}); err != nil {
				t.Fatal(err)
			}
			got, err := db.ListMonitorFigures(ctx, "m", "rmse", day, day.AddDate(0, 1, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != fig(0, "rmse", 6) || got[1] != fig(1, "rmse", 8) {
				t.Fatalf("got %+v, want rmse 6 then 8", got)
			}
			all, err := db.ListMonitorFigures(ctx, "", "", day, day.AddDate(0, 0, 1))
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 || all[0].Name != "prediction_drift" {
				t.Fatalf("got %+v, want the first day's 2 figures by name", all)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			if _, err := db.ListMonitorFigures(ctx, "", "", day, day.Add(-time.Hour)); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
		})
	})
}

func TestMonitorAlertState(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		s, err := db.GetAlertState(ctx, "m", "prediction_drift")
		if err != nil || s.Firing {
			t.Fatalf("never stored: got %+v, %v; want not firing", s, err)
		}
		since := time.Date(2023, 3, 2, 0, 0, 0, 0, time.UTC)
		for _, firing := range []bool{true, false} {
			want := tripcast.AlertState{Model: "m", Rule: "prediction_drift", Firing: firing, Since: since}
			if err := db.SetAlertState(ctx, want); err != nil {
				t.Fatal(err)
			}
			if got, err := db.GetAlertState(ctx, "m", "prediction_drift"); err != nil || got != want {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		}
	})
}
