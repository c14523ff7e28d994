package lambda

import (
	"context"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"tripcast"
)

// RuntimeAPIEnv is the environment variable through which AWS Lambda (or
// the Runtime Interface Emulator) tells a function where its runtime API is.
const RuntimeAPIEnv = "AWS_LAMBDA_RUNTIME_API"

// Start serves h to the Lambda runtime API named by AWS_LAMBDA_RUNTIME_API
// until the process is stopped; it does not return once started (an error
// of the runtime loop ends the process, and Lambda starts a new one).
// EUNAVAILABLE, at once, when the process is not running inside Lambda or
// the emulator: use InvokeJSON to run the handler on an event file instead.
func (h *Handler) Start(ctx context.Context) error {
	if os.Getenv(RuntimeAPIEnv) == "" {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "not running inside AWS Lambda (%s is not set): deploy the binary as the function's bootstrap, run it under the Lambda Runtime Interface Emulator, or invoke it locally on an event file", RuntimeAPIEnv)
	}
	awslambda.StartWithOptions(h.Handle, awslambda.WithContext(ctx), awslambda.WithEnableSIGTERM())
	return nil // not reached: StartWithOptions exits the process when its loop ends
}
