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
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tripcast"
	"tripcast/config"
	"tripcast/internal/secret"
	"tripcast/lambda"
	"tripcast/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	// Inside AWS Lambda the binary is the function's bootstrap, started
	// without arguments: it runs the lambda role.
	if len(args) == 0 && os.Getenv(lambda.RuntimeAPIEnv) != "" {
		args = []string{"lambda"}
	}
	code := run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the process exit code. A
// failure is printed on errOut scrubbed of every secret in the
// configuration (drivers may quote a URL or a DSN).
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	root, a := newRoot(out, errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(errOut, "tripcast:", secret.Scrub(err.Error(), a.secretValues()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
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

	// secrets are the configuration's secrets, scrubbed from every log
	// line and from the final error (see updateSecrets).
	secrets atomic.Pointer[[]string]
}

// updateSecrets records the configuration's secrets after it changed.
func (a *app) updateSecrets() {
	s := a.cfg.Secrets()
	a.secrets.Store(&s)
}

// secretValues returns the secrets recorded by updateSecrets.
func (a *app) secretValues() []string {
	if p := a.secrets.Load(); p != nil {
		return *p
	}
	return nil
}

// newRootCmd builds the command tree. Every subcommand is registered here.
func newRootCmd(out, errOut io.Writer) *cobra.Command {
	root, _ := newRoot(out, errOut)
	return root
}

// newRoot is newRootCmd, also returning the app the commands share.
func newRoot(out, errOut io.Writer) (*cobra.Command, *app) {
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
		newTruthCmd(a),
		newCheckCmd(a),
		newCompactCmd(a),
		newPipelineCmd(a),
		newWorkerCmd(a),
		newMonitorCmd(a),
		// one line per command group, in help order
	)
	return root, a
}

// configure builds the effective configuration: defaults, file, environment,
// then the flags that were set; validates every setting (backend URLs by
// their engine's check) and the command's interval flags; and sets up
// logging, which scrubs the configuration's secrets.
func (a *app) configure(cmd *cobra.Command) error {
	cfg := config.Default()
	// Until the configuration is known, secrets given anywhere are
	// scrubbed from a failure's message.
	a.cfg = cfg
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
			_ = cfg.SetFrom(f.Key, fl.Value.String(), "flag --"+f.Flag)
		}
	}
	a.cfg = cfg
	a.updateSecrets()
	if err := cfg.Finish(); err != nil {
		return err
	}
	a.cfg = cfg
	a.updateSecrets()
	if err := a.checkBackends(); err != nil {
		return err
	}
	if err := checkIntervals(cmd); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(a.errOut, opts)
	} else {
		h = slog.NewTextHandler(a.errOut, opts)
	}
	a.log = slog.New(secretHandler(h, a))
	return nil
}

// secretHandler wraps h so that every log line is scrubbed of a's secrets.
func secretHandler(h slog.Handler, a *app) slog.Handler { return secret.NewHandler(h, a.secretValues) }

// positiveIntervals are the duration flags that are periods or time limits:
// 0 would mean a busy loop or no time at all, so they must be positive.
var positiveIntervals = []string{"follow-every", "follow", "timeout"}

// checkIntervals refuses a negative duration flag, and a zero one among
// positiveIntervals, naming the flag.
func checkIntervals(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Value.Type() != "duration" {
			return
		}
		d, perr := time.ParseDuration(fl.Value.String())
		switch {
		case perr != nil:
			err = tripcast.FieldError(fl.Name, "%q is not a duration", fl.Value.String())
		case d < 0:
			err = tripcast.FieldError(fl.Name, "%v (from flag --%s) must not be negative", d, fl.Name)
		case d == 0 && slices.Contains(positiveIntervals, fl.Name):
			err = tripcast.FieldError(fl.Name, "%v (from flag --%s) must be positive, such as 5s", d, fl.Name)
		}
	})
	return err
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
