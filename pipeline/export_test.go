package pipeline

import (
	"context"
	"fmt"
)

// RunStep does step name of run id again, as a worker does when it retries
// a step whose earlier attempt did the work but died before recording it.
func (e *Engine) RunStep(ctx context.Context, id, name string) (map[string]string, error) {
	r, err := e.cfg.Store.GetPipelineRun(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, st := range steps[r.Pipeline] {
		if st.name == name {
			return st.do(e, ctx, r)
		}
	}
	return nil, fmt.Errorf("no step %s in pipeline %s", name, r.Pipeline)
}
