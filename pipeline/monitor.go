package pipeline

import (
	"context"

	"tripcast"
)

// monitorReport is the monitor pipeline's step: Config.Monitor makes the
// report (the monitor package plugs in there). Without it the step is
// recorded as skipped, so that a daily schedule does not fill the history
// with failures before monitoring is wired in.
func (e *Engine) monitorReport(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	if e.cfg.Monitor == nil {
		return map[string]string{"skipped": "monitoring is not configured"}, nil
	}
	return e.cfg.Monitor(ctx, run)
}
