package lambda_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"tripcast"
	"tripcast/internal/kinesisevent"
	"tripcast/lambda"
	"tripcast/lambda/lambdatest"
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

// TestRuntimeInterfaceEmulator invokes the handler through AWS's Lambda
// Runtime Interface Emulator: the real runtime API protocol, the real
// aws-lambda-go loop, the course's test event.
func TestRuntimeInterfaceEmulator(t *testing.T) {
	if os.Getenv(rieChildEnv) == "1" {
		t.Skip("child process")
	}
	event := kinesisevent.Course(courseRide, `{"ride_id": "bad", "ride": {"PULocationID": 0}}`)
	body := lambdatest.Invoke(t, []string{os.Args[0], "-test.run=^TestRIEChild$"}, []string{rieChildEnv + "=1"}, event)
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
