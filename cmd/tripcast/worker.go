package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tripcast"
	"tripcast/config"
	"tripcast/pipeline"
	"tripcast/tlc"
)

// queueBackends opens the pipeline engine (River) on the metadata
// database named by the db setting, by scheme: River's tables live beside
// tripcast's, in the same SQLite file or PostgreSQL schema.
var queueBackends = map[string]func(ctx context.Context, u *url.URL, raw string, cfg pipeline.Config) (*pipeline.Engine, error){
	"sqlite": func(ctx context.Context, u *url.URL, _ string, cfg pipeline.Config) (*pipeline.Engine, error) {
		return pipeline.OpenSQLite(ctx, u.Host+u.Path, cfg)
	},
	"postgres": func(ctx context.Context, _ *url.URL, raw string, cfg pipeline.Config) (*pipeline.Engine, error) {
		return pipeline.OpenPostgres(ctx, raw, cfg)
	},
	"postgresql": func(ctx context.Context, _ *url.URL, raw string, cfg pipeline.Config) (*pipeline.Engine, error) {
		return pipeline.OpenPostgres(ctx, raw, cfg)
	},
}

// pipelineFlags are the settings of processes that run pipeline steps
// (tripcast up and tripcast worker).
type pipelineFlags struct {
	off        bool
	workers    int
	schedules  []string
	retries    int
	retryDelay time.Duration
	maxRMSE    float64
	margin     float64
	params     []string
	baseURL    string
	timeout    time.Duration
	rescue     time.Duration
}

func (p *pipelineFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&p.off, "no-pipelines", false, "run no pipeline workers and no schedules in this process")
	f.IntVar(&p.workers, "pipeline-workers", 1, "pipeline steps this process runs at once")
	f.StringArrayVar(&p.schedules, "schedule", nil, `pipeline schedule as PIPELINE=CRON (UTC), or PIPELINE=off (repeatable; defaults: train="`+
		pipeline.DefaultSchedules[pipeline.Train]+`", monitor="`+pipeline.DefaultSchedules[pipeline.Monitor]+`", batch="`+pipeline.DefaultSchedules[pipeline.Batch]+`")`)
	f.IntVar(&p.retries, "pipeline-retries", 1, "retries of a failed pipeline step (0: none)")
	f.DurationVar(&p.retryDelay, "pipeline-retry-delay", 5*time.Minute, "wait before retrying a failed pipeline step")
	f.Float64Var(&p.maxRMSE, "max-rmse", 10, "train pipeline: a candidate above this validation RMSE is never champion")
	f.Float64Var(&p.margin, "margin", 0, "train pipeline: fraction of the champion's RMSE a candidate must beat it by (0: strictly lower)")
	f.StringArrayVar(&p.params, "pipeline-param", nil, "train pipeline: gbdt parameter key=value (repeatable)")
	if f.Lookup("base-url") == nil { // tripcast up has its own
		f.StringVar(&p.baseURL, "base-url", tlc.DefaultBaseURL, "TLC trip-data site months are fetched from")
	}
	f.DurationVar(&p.timeout, "pipeline-step-timeout", 2*time.Hour, "longest a pipeline step may run")
	f.DurationVar(&p.rescue, "pipeline-rescue-after", 3*time.Hour, "a step running this long (its worker died) is run again by another worker; more than --pipeline-step-timeout")
}

// schedulesMap turns the --schedule flags over the defaults.
func (p *pipelineFlags) schedulesMap() (map[string]string, error) {
	m := map[string]string{}
	for k, v := range pipeline.DefaultSchedules {
		m[k] = v
	}
	for _, s := range p.schedules {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, tripcast.FieldError("schedule", "%q is not PIPELINE=CRON", s)
		}
		if _, err := pipeline.ParseSchedule(k, v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// pipelines opens the pipeline engine: with p, workers and schedules run
// in this process; with p nil, it only submits and reads runs. It is
// closed when the command ends (running steps are waited for 30 s).
func (a *app) pipelines(ctx context.Context, p *pipelineFlags) (*pipeline.Engine, error) {
	db, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	blobs, err := a.blobStore(ctx)
	if err != nil {
		return nil, err
	}
	tr, err := a.tracker(ctx, true)
	if err != nil {
		return nil, err
	}
	cfg := pipeline.Config{Store: db, Blob: blobs, Tracker: tr, ModelName: a.cfg.ModelName, TempDir: a.cfg.DataDir, Logger: a.log,
		Monitor: a.pipelineMonitor}
	if p != nil && !p.off {
		if cfg.Schedules, err = p.schedulesMap(); err != nil {
			return nil, err
		}
		if cfg.Train.Params, err = parseParams(p.params); err != nil {
			return nil, err
		}
		cfg.Workers, cfg.RetryDelay, cfg.BaseURL = p.workers, p.retryDelay, p.baseURL
		cfg.Train.MaxRMSE, cfg.Train.Margin = p.maxRMSE, p.margin
		cfg.StepTimeout, cfg.RescueAfter = p.timeout, p.rescue
		cfg.Retries = p.retries
		if p.retries == 0 {
			cfg.Retries = -1
		}
	}
	u, err := url.Parse(a.cfg.DB)
	if err != nil {
		return nil, tripcast.FieldError("db", "%q is not a URL: %v", config.Mask(a.cfg.DB), err)
	}
	open, ok := queueBackends[u.Scheme]
	if !ok {
		return nil, tripcast.FieldError("db", "no pipeline queue on %q (known: %s)", config.Mask(a.cfg.DB), schemes(queueBackends))
	}
	e, err := open(ctx, u, a.cfg.DB, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pipeline queue on %s: %w", config.Mask(a.cfg.DB), err)
	}
	a.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return e.Close(ctx)
	})
	return e, nil
}

func newWorkerCmd(a *app) *cobra.Command {
	var p pipelineFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run pipeline steps (and, when elected leader, the schedules) until stopped",
		Long: `Run pipeline steps from the queue in the metadata database until stopped
(SIGINT or SIGTERM: running steps finish first, up to 30 s). On PostgreSQL any
number of workers share the queue; one of them (elected) inserts the scheduled
runs. A worker killed mid-step leaves its step to be run again by another after
the rescue delay; a step that already succeeded is never done twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if p.off {
				return tripcast.FieldError("no-pipelines", "a worker without pipelines has nothing to do")
			}
			if _, err := a.pipelines(ctx, &p); err != nil {
				return err
			}
			a.log.Info("pipeline worker is up", "workers", p.workers, "db", config.Mask(a.cfg.DB))
			<-ctx.Done()
			return nil
		},
	}
	p.register(cmd.Flags())
	return cmd
}
