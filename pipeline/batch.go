package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"tripcast"
	"tripcast/batch"
	"tripcast/model"
)

// PredictionsKey is where a batch run writes its predictions, the course's
// layout: predictions/taxi_type=<color>/year=YYYY/month=MM/<run>.parquet.
func PredictionsKey(color, month, runID string) string {
	t, _ := time.Parse("2006-01", month)
	return fmt.Sprintf("predictions/taxi_type=%s/year=%04d/month=%02d/%s.parquet", color, t.Year(), int(t.Month()), runID)
}

// batchScore scores the month before the logical date with the champion.
// Run again, it writes the same key again (the blob store's Put is atomic).
func (e *Engine) batchScore(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	month := monthOf(run.LogicalDate, 1)
	d, _, err := e.month(ctx, month)
	if err != nil {
		return nil, err
	}
	art, err := model.LoadRegistered(ctx, e.cfg.Tracker, e.cfg.ModelName, tripcast.ChampionAlias)
	if err != nil {
		return nil, fmt.Errorf("load champion: %w", err)
	}
	key := PredictionsKey(e.cfg.Color, month, run.ID)
	sum, info, err := batch.Put(ctx, e.cfg.Blob, key, art, d.Trips, batch.OptionsFor(d))
	if err != nil {
		return nil, fmt.Errorf("score %s: %w", month, err)
	}
	return map[string]string{"month": month, "output_key": key, "output": e.cfg.Blob.URI(key), outVersion: art.Version(),
		"rows": strconv.Itoa(sum.Rows), "rmse": ftoa(sum.RMSE), "sha256": info.SHA256}, nil
}
