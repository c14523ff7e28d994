package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/config"
	"tripcast/lambda"
	"tripcast/predlog"
	"tripcast/serve"
)

func newLambdaCmd(a *app) *cobra.Command {
	var event, outputStream, runID, modelLocation string
	var testRun bool
	cmd := &cobra.Command{
		Use:   "lambda [--event FILE]",
		Short: "Run as the AWS Lambda handler for Kinesis ride events (or once on an event file)",
		Long: `The prediction core as an AWS Lambda handler for Kinesis events: each record's
data is a ride event; the answer is {"predictions": [...]} in the course's
format, with batchItemFailures for records Lambda should retry (enable
ReportBatchItemFailures on the event source mapping), deadLettered and
rejected when records could never succeed (keys left out when empty).
Predictions go to the output stream and the prediction log; records that
can never succeed go to ride_events_dlq with their reason.

The course's environment variables configure it; a flag wins over its
variable, and a given stream setting over what the variables imply:
  PREDICTIONS_STREAM_NAME  output stream (--output-stream; default ride_predictions)
  TEST_RUN                 True/true/1: answer without publishing (--test-run)
  RUN_ID                   reported as every prediction's version (--run-id)
  MODEL_LOCATION           model file to load: a path or s3://bucket/key (--model-location)
  KINESIS_ENDPOINT_URL     Kinesis endpoint of the output stream
  AWS_DEFAULT_REGION       the region when AWS_REGION is unset
The model: MODEL_LOCATION's file when set (RUN_ID, else the file's sha256,
as version; no metadata database is opened: the prediction log is the
parquet log in the blob store when the blob setting is given, else none);
else, with RUN_ID, the newest registered version trained by that run; else
the registry's champion, followed. Without a stream setting, the output is
Kinesis when KINESIS_ENDPOINT_URL or PREDICTIONS_STREAM_NAME is set.

--event FILE runs the handler once on a Kinesis event JSON file and prints the
answer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			flags := map[string]string{}
			for env, fl := range map[string]string{lambda.EnvPredictionsStream: "output-stream", lambda.EnvTestRun: "test-run",
				lambda.EnvRunID: "run-id", lambda.EnvModelLocation: "model-location"} {
				if f := cmd.Flags().Lookup(fl); f.Changed {
					flags[env] = f.Value.String()
				}
			}
			env, err := lambda.ReadEnv(func(k string) (string, bool) {
				if v, ok := flags[k]; ok {
					return v, true
				}
				return os.LookupEnv(k)
			})
			if err != nil {
				return err
			}
			h, err := a.lambdaHandler(ctx, cmd, env)
			if err != nil {
				return err
			}
			if event == "" {
				return h.Start(ctx)
			}
			b, err := os.ReadFile(event)
			if err != nil {
				return tripcast.FieldError("event", "%v", err)
			}
			out, err := h.InvokeJSON(ctx, b)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, string(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&event, "event", "", "run once on this Kinesis event JSON file and print the answer")
	f.BoolVar(&testRun, "test-run", false, "answer only: publish nothing (env TEST_RUN)")
	f.StringVar(&outputStream, "output-stream", "", "output stream name (env PREDICTIONS_STREAM_NAME; default ride_predictions)")
	f.StringVar(&runID, "run-id", "", "training run id: reported as version, picks the version it registered (env RUN_ID)")
	f.StringVar(&modelLocation, "model-location", "", "model file to load without the registry: a path or s3://bucket/key (env MODEL_LOCATION)")
	return cmd
}

// lambdaHandler builds the Lambda handler env describes (see the lambda
// command's help).
func (a *app) lambdaHandler(ctx context.Context, cmd *cobra.Command, env lambda.Env) (*lambda.Handler, error) {
	opt := lambda.Options{OutputStream: env.OutputStream, Logger: a.log}
	var pred *serve.Predictor
	withDB := env.ModelLocation == nil
	if withDB {
		s, err := a.serving(ctx)
		if err != nil {
			return nil, err
		}
		pred, opt.Log = s.pred, s.streamLog(false)
		if env.RunID == "" {
			s.follow(ctx, a, defaultFollow)
		} else {
			tr, err := a.tracker(ctx, true)
			if err != nil {
				return nil, err
			}
			art, err := lambda.LoadRunModel(ctx, tr, a.cfg.ModelName, env.RunID)
			if err != nil {
				return nil, err
			}
			pred.Swap(art)
		}
	} else {
		art, err := lambda.LoadModel(ctx, env.ModelLocation, a.cfg.ModelName, env.RunID)
		if err != nil {
			return nil, err
		}
		pred = serve.New(serve.Options{Logger: a.log})
		pred.Swap(art)
		if opt.Log, err = a.blobPredictionLog(ctx, cmd); err != nil {
			return nil, err
		}
		a.log.Info("lambda model loaded from a file: no metadata database", "location", env.ModelLocation.String(),
			"version", art.Version(), "prediction_log", opt.Log != nil)
	}
	if !env.TestRun {
		a.cfg.Stream = env.StreamURL(a.cfg.Stream, a.settingGiven(cmd, "stream"))
		st, err := a.openStream(ctx, streamOptions{publishOnly: !withDB})
		if err != nil {
			return nil, err
		}
		out := env.OutputStream
		if out == "" {
			out = tripcast.PredictionsStream
		}
		for _, name := range []string{out, tripcast.DeadLetterStream} {
			if err := st.EnsureStream(ctx, name); err != nil {
				return nil, err
			}
		}
		opt.Output = st
	}
	return lambda.New(pred, opt)
}

// blobPredictionLog is the prediction log of a process without the
// metadata database: the parquet log and the prediction_sinks in the blob
// store, written before each answer (one parquet file per batch), when
// the blob setting is given; nil (nothing logged) otherwise, since the
// default store is a folder of the data directory, which a Lambda function
// cannot write.
func (a *app) blobPredictionLog(ctx context.Context, cmd *cobra.Command) (tripcast.PredictionLog, error) {
	if !a.settingGiven(cmd, "blob") {
		a.log.Warn("no prediction log: set the blob setting (TRIPCAST_BLOB) to log predictions as parquet")
		return nil, nil
	}
	store, err := a.blobStore(ctx)
	if err != nil {
		return nil, err
	}
	pw := predlog.New(store, predlog.Options{Logger: a.log})
	a.onClose(pw.Close)
	sinks, err := a.predictionSinks(store)
	if err != nil {
		return nil, err
	}
	return predlog.Multi(append([]tripcast.PredictionLog{pw}, sinks...)...), nil
}

// settingGiven reports whether setting key was given by its flag, its
// TRIPCAST_* variable or the config file, rather than left at its default.
func (a *app) settingGiven(cmd *cobra.Command, key string) bool {
	for _, f := range config.Fields() {
		if f.Key != key {
			continue
		}
		if fl := cmd.Flags().Lookup(f.Flag); fl != nil && fl.Changed {
			return true
		}
		if _, ok := os.LookupEnv(f.Env); ok {
			return true
		}
	}
	file := a.cfgFile
	if file == "" {
		file = os.Getenv("TRIPCAST_CONFIG")
	}
	var c config.Config
	return file != "" && c.LoadFile(file) == nil && c.Get(key) != ""
}

// noCheckpoints is the checkpoint store of a stream opened to publish only
// (a Lambda function without the metadata database): consuming fails.
type noCheckpoints struct{}

func (noCheckpoints) GetCheckpoint(context.Context, string, string, string) (string, error) {
	return "", errPublishOnly
}

func (noCheckpoints) SetCheckpoint(context.Context, string, string, string, string) error {
	return errPublishOnly
}

var errPublishOnly = tripcast.Errorf(tripcast.EUNAVAILABLE, "stream opened to publish only: no checkpoint store (metadata database) to consume with")
