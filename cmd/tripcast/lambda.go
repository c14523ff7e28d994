package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/lambda"
)

func newLambdaCmd(a *app) *cobra.Command {
	var event string
	var testRun bool
	cmd := &cobra.Command{
		Use:   "lambda [--event FILE]",
		Short: "Run as the AWS Lambda handler for Kinesis ride events (or once on an event file)",
		Long: `The prediction core as an AWS Lambda handler for Kinesis events: each record's
data is a ride event; the answer is {"predictions": [...]} in the course's
format, with batchItemFailures for records Lambda should retry (enable
ReportBatchItemFailures on the event source mapping). Predictions go to the
output stream ride_predictions on the stream setting (kinesis://... on AWS)
and to the prediction log; records that can never succeed go to
ride_events_dlq with their reason. The model is the registry's champion.

--event FILE runs the handler once on a Kinesis event JSON file and prints the
answer; --test-run answers without publishing (the course's TEST_RUN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.serving(ctx)
			if err != nil {
				return err
			}
			s.follow(ctx, a, defaultFollow)
			opt := lambda.Options{Log: s.streamLog(false), Logger: a.log}
			if !testRun {
				st, err := a.stream(ctx)
				if err != nil {
					return err
				}
				for _, name := range []string{tripcast.PredictionsStream, tripcast.DeadLetterStream} {
					if err := st.EnsureStream(ctx, name); err != nil {
						return err
					}
				}
				opt.Output = st
			}
			h, err := lambda.New(s.pred, opt)
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
	cmd.Flags().StringVar(&event, "event", "", "run once on this Kinesis event JSON file and print the answer")
	cmd.Flags().BoolVar(&testRun, "test-run", false, "answer only: publish nothing (the course's TEST_RUN)")
	return cmd
}
