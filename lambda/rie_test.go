package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/kinesisevent"
	"tripcast/internal/testenv"
	"tripcast/lambda"
	"tripcast/serve"
)

// rieChildEnv marks the process the emulator starts as the function.
const rieChildEnv = "TRIPCAST_RIE_CHILD"

// TestRIEChild is the Lambda function when the test binary runs under the
// emulator (see TestRuntimeInterfaceEmulator); it is skipped otherwise.
func TestRIEChild(t *testing.T) {
	if os.Getenv(rieChildEnv) != "1" {
		t.Skip("runs only as the function under the Lambda Runtime Interface Emulator")
	}
	p := serve.New(serve.Options{})
	p.Swap(mustLoadModel(t, "Test123"))
	h, err := lambda.New(p, lambda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(h.Start(context.Background())) // Start returns only on error
}

// rieBinary finds the emulator: $TRIPCAST_LAMBDA_RIE, or aws-lambda-rie on
// PATH (.ci/run installs it: GOBIN=DIR go install
// github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@<version>).
// Without it the test skips, or fails when CI=true.
func rieBinary(t *testing.T) string {
	if p := os.Getenv("TRIPCAST_LAMBDA_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TRIPCAST_LAMBDA_RIE: %v", err)
		}
		return p
	}
	p, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		testenv.SkipOrFail(t, "aws-lambda-rie not found (set TRIPCAST_LAMBDA_RIE or put it on PATH; .ci/run installs it)")
	}
	return p
}

// TestRuntimeInterfaceEmulator invokes the handler through AWS's Lambda
// Runtime Interface Emulator: the real runtime API protocol, the real
// aws-lambda-go loop, the course's test event.
func TestRuntimeInterfaceEmulator(t *testing.T) {
	if os.Getenv(rieChildEnv) == "1" {
		t.Skip("child process")
	}
	rie := rieBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rie, "--runtime-interface-emulator-address", addr, "--log-level", "error",
		os.Args[0], "-test.run=^TestRIEChild$")
	cmd.Env = append(os.Environ(), rieChildEnv+"=1")
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
	event := kinesisevent.Course(courseRide, `{"ride_id": "bad", "ride": {"PULocationID": 0}}`)
	var body []byte
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d: %s", resp.StatusCode, body)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("emulator did not answer at %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var got lambda.Response
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	if len(got.Predictions) != 1 || len(got.Rejected) != 1 || got.Rejected[0].Field != "ride.PULocationID" || len(got.BatchItemFailures) != 0 {
		t.Fatalf("got %s, want one prediction for ride 256 and one rejection of ride.PULocationID", body)
	}
	p, err := serve.ParsePrediction(got.Predictions[0])
	if err != nil || p.RideID != "256" || p.Version != "Test123" || p.Model != tripcast.DefaultModelName {
		t.Fatalf("got prediction %+v (%v), want ride 256 by %s version Test123", p, err, tripcast.DefaultModelName)
	}
}
