// Command tripcast predicts New York taxi trip durations and runs the MLOps
// loop around the prediction. This package only wires: flags, configuration
// and backends; the work is done in the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/config"
	"tripcast/lambda"
	"tripcast/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd(os.Stdout, os.Stderr)
	// Inside AWS Lambda the binary is the function's bootstrap, started
	// without arguments: it runs the lambda role.
	if len(os.Args) == 1 && os.Getenv(lambda.RuntimeAPIEnv) != "" {
		root.SetArgs([]string{"lambda"})
	}
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tripcast:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// app is what every command shares: the effective configuration, the logger,
// the output streams and the backends opened from the configuration (lazily,
// and closed once when the command ends).
type app struct {
	cfg     config.Config
	cfgFile string
	log     *slog.Logger
	out     io.Writer
	errOut  io.Writer
	closers []func() error

	blob tripcast.BlobStore
	srv  *serving
	db   *sqlstore.DB // metadata database, opened by a.store
}

// newRootCmd builds the command tree. Every subcommand is registered here.
func newRootCmd(out, errOut io.Writer) *cobra.Command {
	a := &app{cfg: config.Default(), out: out, errOut: errOut}
	root := &cobra.Command{
		Use:           "tripcast",
		Short:         "Predict New York taxi trip durations and run the MLOps loop around the prediction",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			// Close what the command opened whether it succeeds or not
			// (cobra skips post-run hooks after an error): buffered
			// prediction logs are flushed, databases closed.
			if run := cmd.RunE; run != nil {
				cmd.RunE = func(c *cobra.Command, args []string) error {
					return errors.Join(run(c, args), a.close())
				}
			}
			return nil
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.cfgFile, "config", "", "JSON config file (env TRIPCAST_CONFIG)")
	def := config.Default()
	for _, f := range config.Fields() {
		pf.String(f.Flag, def.Get(f.Key), f.Help+" (env "+f.Env+")")
	}
	root.AddCommand(
		newUpCmd(a),
		newConfigCmd(a),
		newIngestCmd(a),
		newTrainCmd(a),
		newTuneCmd(a),
		newPredictCmd(a),
		newBatchCmd(a),
		newServeCmd(a),
		newSimulateCmd(a),
		newLambdaCmd(a),
		newRunsCmd(a),
		newModelsCmd(a),
		newConsumeCmd(a),
		newCheckCmd(a),
		newCompactCmd(a),
		// one line per command group, in help order
	)
	return root
}

// configure builds the effective configuration: defaults, file, environment,
// then the flags that were set; and sets up logging.
func (a *app) configure(cmd *cobra.Command) error {
	cfg := config.Default()
	file := a.cfgFile
	if file == "" {
		file = os.Getenv("TRIPCAST_CONFIG")
	}
	if file != "" {
		if err := cfg.LoadFile(file); err != nil {
			return err
		}
	}
	cfg.LoadEnv(os.LookupEnv)
	for _, f := range config.Fields() {
		if fl := cmd.Flags().Lookup(f.Flag); fl != nil && fl.Changed {
			_ = cfg.Set(f.Key, fl.Value.String())
		}
	}
	if err := cfg.Finish(); err != nil {
		return err
	}
	a.cfg = cfg
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		a.log = slog.New(slog.NewJSONHandler(a.errOut, opts))
	} else {
		a.log = slog.New(slog.NewTextHandler(a.errOut, opts))
	}
	return nil
}

// onClose registers fn to run when the command ends.
func (a *app) onClose(fn func() error) { a.closers = append(a.closers, fn) }

// close runs the registered closers in reverse order.
func (a *app) close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
