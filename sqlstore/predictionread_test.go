package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/predlog/predlogtest"
)

func TestReadPredictions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		predlogtest.RunReader(t, func(t *testing.T) (tripcast.PredictionLog, tripcast.PredictionReader) {
			db := MustOpenDB(t, e.Fresh(t))
			return db.PredictionLog(), db
		})
	})
}

// TestMigrateRideIDNumeric: rows logged before migration 4 read back with
// RideIDNumeric false; rows logged after keep what they were given.
func TestMigrateRideIDNumeric(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, e engine) {
		url := e.Fresh(t)
		db := MustOpenDB(t, url)
		recs := predlogtest.Records(6, time.Second)
		recs[3].RideIDNumeric = true
		if err := db.PredictionLog().Log(ctx, recs[3:]); err != nil {
			t.Fatal(err)
		}
		// Take the database back to schema version 3 with one row logged
		// then, and open it again: migration 4 runs on a table with rows.
		raw := rawDB(t, url)
		for _, q := range []string{
			`ALTER TABLE predictions DROP COLUMN ride_id_numeric`,
			// Later migrations are undone too (migration 5's tables), so
			// that the schema is version 3's.
			`DROP TABLE monitor_figures`,
			`DROP TABLE monitor_alerts`,
			`DELETE FROM schema_migrations WHERE version >= 4`,
			`INSERT INTO predictions (ride_id, model, version, pu_location_id, do_location_id, trip_distance, prediction,
				received_at, predicted_at, latency_us, source)
				VALUES ('100000', 'm', '1', 1, 2, 3.5, 12.5, ` + fmt.Sprint(recs[0].ReceivedAt.UnixMicro()) + `, ` +
				fmt.Sprint(recs[0].PredictedAt.UnixMicro()) + `, 100, 'http')`,
		} {
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db = MustOpenDB(t, url)
		old := tripcast.PredictionRecord{RideID: "100000", Model: "m", Version: "1", PULocationID: 1, DOLocationID: 2,
			TripDistance: 3.5, Prediction: 12.5, ReceivedAt: recs[0].ReceivedAt, PredictedAt: recs[0].PredictedAt,
			Latency: 100 * time.Microsecond, Source: tripcast.SourceHTTP}
		got := predlogtest.MustRead(t, db, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
		for i := range recs[3:] {
			recs[3+i].RideIDNumeric = false // the dropped column's values are gone
		}
		predlogtest.Same(t, got, append([]tripcast.PredictionRecord{old}, recs[3:]...))
		after := predlogtest.Records(7, time.Second)[6] // a numeric ride_id
		if err := db.PredictionLog().Log(ctx, []tripcast.PredictionRecord{after}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.GetPredictions(ctx, after.RideID); err != nil || len(got) != 1 || got[0] != after || !got[0].RideIDNumeric {
			t.Fatalf("got %+v, %v, want [%+v]", got, err, after)
		}
	})
}

// rawDB opens the database at url with database/sql alone, closed when the
// test ends.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", url
	if p, ok := strings.CutPrefix(url, "sqlite://"); ok {
		driver, dsn = "sqlite", p
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
