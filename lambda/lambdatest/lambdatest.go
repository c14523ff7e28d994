// Package lambdatest runs a Lambda function under AWS's Runtime Interface
// Emulator and provides a model file, for the tests of the Lambda handler
// and of the command that runs it.
package lambdatest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tripcast/internal/testenv"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/tlc"
	"tripcast/train"
)

// RIEBinary finds the emulator: $TRIPCAST_LAMBDA_RIE, or aws-lambda-rie on
// PATH (.ci/run installs it: GOBIN=DIR go install
// github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@<version>).
// Without it the test skips, or fails when CI=true.
func RIEBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("TRIPCAST_LAMBDA_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("TRIPCAST_LAMBDA_RIE: %v", err)
		}
		return p
	}
	p, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		testenv.SkipOrFail(tb, "aws-lambda-rie not found (set TRIPCAST_LAMBDA_RIE or put it on PATH; .ci/run installs it)")
	}
	return p
}

// Invoke starts the emulator running the function argv (a program and its
// arguments) with env added to this process's environment, sends it event
// as one invocation, and returns the function's answer. It fails the test
// when the emulator does not answer within a minute or answers another
// status than 200; the emulator's output is logged when the test fails.
func Invoke(t *testing.T, argv, env []string, event []byte) []byte {
	t.Helper()
	rie := RIEBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rie, append([]string{"--runtime-interface-emulator-address", addr, "--log-level", "error"}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", logs.String())
		}
	}()

	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d: %s", resp.StatusCode, body)
			}
			return body
		}
		select {
		case <-ctx.Done():
			t.Fatalf("emulator did not answer at %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	trainOnce sync.Once
	trained   *model.Artifact
	trainErr  error
)

// ModelFile returns the path of a model artifact file in a temporary
// folder: a small GBDT (10 rounds of depth 4) trained, once per process,
// on the course's January 2021 green taxi trips.
func ModelFile(tb testing.TB) string {
	tb.Helper()
	trainOnce.Do(func() {
		trips, _, err := tlc.LoadFile(testfiles.Green(tb, "2021-01"), tlc.RuleCourse)
		if err != nil {
			trainErr = err
			return
		}
		res, err := train.Fit(context.Background(), trips, nil, train.Options{
			Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
		if err != nil {
			trainErr = err
			return
		}
		trained = res.Artifact
	})
	if trainErr != nil {
		tb.Fatalf("train the test model: %v", trainErr)
	}
	path := filepath.Join(tb.TempDir(), "model.json")
	if err := trained.SaveFile(path); err != nil {
		tb.Fatal(err)
	}
	return path
}
