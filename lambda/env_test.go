package lambda_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/internal/testenv"
	"tripcast/lambda"
	"tripcast/lambda/lambdatest"
)

// lookupIn is a lookup over vars, as os.LookupEnv is over the environment.
func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestReadEnv(t *testing.T) {
	t.Run("OKNothingSet", func(t *testing.T) {
		e, err := lambda.ReadEnv(lookupIn(nil))
		if err != nil || e.OutputStream != "" || e.TestRun || e.RunID != "" || e.ModelLocation != nil || e.KinesisEndpoint != "" || e.Region != "" {
			t.Fatalf("got %+v, %v; want the zero Env", e, err)
		}
	})
	t.Run("OKCourse", func(t *testing.T) {
		// The course's docker-compose for its Lambda integration test.
		e, err := lambda.ReadEnv(lookupIn(map[string]string{
			"PREDICTIONS_STREAM_NAME": "ride_predictions", "TEST_RUN": "True", "RUN_ID": "Test123",
			"MODEL_LOCATION": "/app/model", "KINESIS_ENDPOINT_URL": "http://kinesis:4566/", "AWS_DEFAULT_REGION": "eu-west-1",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if e.OutputStream != "ride_predictions" || !e.TestRun || e.RunID != "Test123" || e.ModelLocation.Path != "/app/model" ||
			e.ModelLocation.Bucket != "" || e.KinesisEndpoint != "http://kinesis:4566/" || e.Region != "eu-west-1" || !e.RegionFromDefault {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("OKTestRunSpellings", func(t *testing.T) {
		for v, want := range map[string]bool{"True": true, "true": true, "1": true, "False": false, "false": false, "0": false, "": false} {
			e, err := lambda.ReadEnv(lookupIn(map[string]string{"TEST_RUN": v}))
			if err != nil || e.TestRun != want {
				t.Errorf("TEST_RUN=%q: got %v, %v; want %v", v, e.TestRun, err, want)
			}
		}
	})
	t.Run("OKRegionPrecedence", func(t *testing.T) {
		e, err := lambda.ReadEnv(lookupIn(map[string]string{"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}))
		if err != nil || e.Region != "us-west-2" || e.RegionFromDefault {
			t.Fatalf("got %+v, %v; want AWS_REGION's us-west-2", e, err)
		}
	})
	t.Run("OKS3Location", func(t *testing.T) {
		e, err := lambda.ReadEnv(lookupIn(map[string]string{"MODEL_LOCATION": "s3://models/1/Test123/artifacts/model.json",
			"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070", "AWS_DEFAULT_REGION": "eu-west-1"}))
		if err != nil {
			t.Fatal(err)
		}
		l := e.ModelLocation
		if l.Bucket != "models" || l.Key != "1/Test123/artifacts/model.json" || l.Endpoint != "http://127.0.0.1:7070" || l.Region != "eu-west-1" ||
			l.String() != "s3://models/1/Test123/artifacts/model.json" {
			t.Fatalf("got %+v", l)
		}
		u, err := url.Parse(l.StoreURL())
		if err != nil || u.Scheme != "s3" || u.Host != "models" || u.Path != "" || u.Query().Get("endpoint") != "http://127.0.0.1:7070" || u.Query().Get("region") != "eu-west-1" {
			t.Fatalf("store URL %q", l.StoreURL())
		}
		// The URL's own parameters win.
		e, err = lambda.ReadEnv(lookupIn(map[string]string{"MODEL_LOCATION": "s3://models/m.json?endpoint=http://h:1&region=r",
			"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070", "AWS_REGION": "eu-west-1"}))
		if err != nil || e.ModelLocation.Endpoint != "http://h:1" || e.ModelLocation.Region != "r" {
			t.Fatalf("got %+v, %v", e.ModelLocation, err)
		}
	})
	for _, tc := range []struct{ name, value string }{
		{"PREDICTIONS_STREAM_NAME", "ride predictions"},
		{"PREDICTIONS_STREAM_NAME", strings.Repeat("s", 65)},
		{"PREDICTIONS_STREAM_NAME", "ride.predictions"},
		{"TEST_RUN", "yes"},
		{"TEST_RUN", "TRUE1"},
		{"RUN_ID", "Test 123"},
		{"RUN_ID", "Test\x00123"},
		{"RUN_ID", strings.Repeat("r", 129)},
		{"MODEL_LOCATION", "http://example.com/model.json"},
		{"MODEL_LOCATION", "s3://bucket-only"},
		{"MODEL_LOCATION", "s3://bucket/folder/"},
		{"MODEL_LOCATION", "s3:///key"},
		{"MODEL_LOCATION", "s3://b/k?endpoint=ftp://x"},
		{"MODEL_LOCATION", "s3://b/k?versionId=3"},
		{"KINESIS_ENDPOINT_URL", "localhost:4566"},
		{"KINESIS_ENDPOINT_URL", "ftp://kinesis:4566"},
		{"AWS_ENDPOINT_URL_S3", "127.0.0.1:7070"},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			vars := map[string]string{tc.name: tc.value}
			if tc.name == "AWS_ENDPOINT_URL_S3" {
				vars["MODEL_LOCATION"] = "s3://b/k"
			}
			_, err := lambda.ReadEnv(lookupIn(vars))
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != tc.name || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("%s=%q: got %v, want EINVALID naming %s", tc.name, tc.value, err, tc.name)
			}
		})
	}
}

func TestStreamURL(t *testing.T) {
	course := lambda.Env{OutputStream: "ride_predictions", KinesisEndpoint: "http://127.0.0.1:4567", Region: "eu-west-1", RegionFromDefault: true}
	for _, tc := range []struct {
		name    string
		env     lambda.Env
		setting string
		given   bool
		want    string
	}{
		{"DefaultKept", lambda.Env{RunID: "x"}, "embedded", false, "embedded"},
		{"CourseKinesis", course, "embedded", false, "kinesis://?endpoint=http%3A%2F%2F127.0.0.1%3A4567&region=eu-west-1"},
		{"StreamNameOnlyAWS", lambda.Env{OutputStream: "out", Region: "eu-west-1"}, "embedded", false, "kinesis://?region=eu-west-1"},
		{"GivenWins", course, "nats://127.0.0.1:4222", true, "nats://127.0.0.1:4222"},
		{"GivenEmbeddedWins", course, "embedded", true, "embedded"},
		{"GivenKinesisGetsDefaultRegion", course, "kinesis://?shards=2", true, "kinesis://?shards=2&region=eu-west-1"},
		{"GivenKinesisEmptyQuery", course, "kinesis://?", true, "kinesis://?region=eu-west-1"},
		{"GivenKinesisRegionKept", course, "kinesis://?region=us-east-2", true, "kinesis://?region=us-east-2"},
		{"AWSRegionSetNothingAdded", lambda.Env{Region: "us-west-2"}, "kinesis://?shards=2", true, "kinesis://?shards=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.env.StreamURL(tc.setting, tc.given); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadModel(t *testing.T) {
	ctx := context.Background()
	path := lambdatest.ModelFile(t)
	t.Run("OKFile", func(t *testing.T) {
		art, err := lambda.LoadModel(ctx, &lambda.Location{Path: path}, "", "Test123")
		if err != nil {
			t.Fatal(err)
		}
		y, err := art.Predict(tripcast.Ride{PULocationID: 130, DOLocationID: 205, TripDistance: 3.66})
		if err != nil || y <= 0 || art.Version() != "Test123" || art.Name() != tripcast.DefaultModelName {
			t.Fatalf("got %v (%v) from %s version %s", y, err, art.Name(), art.Version())
		}
	})
	t.Run("OKNoRunIDVersionIsChecksum", func(t *testing.T) {
		a1, err := lambda.LoadModel(ctx, &lambda.Location{Path: path}, "m", "")
		if err != nil {
			t.Fatal(err)
		}
		a2, err := lambda.LoadModel(ctx, &lambda.Location{Path: path}, "m", "")
		if err != nil {
			t.Fatal(err)
		}
		v := a1.Version()
		if !strings.HasPrefix(v, "sha256:") || len(v) != len("sha256:")+12 || a2.Version() != v || a1.Name() != "m" {
			t.Fatalf("got version %q then %q", v, a2.Version())
		}
	})
	t.Run("OKS3", func(t *testing.T) {
		store := blobtest.MustOpenS3(t, "lambda")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := store.Put(ctx, "1/Test123/artifacts/model.json", f); err != nil {
			t.Fatal(err)
		}
		endpoint := testenv.S3Endpoint(t)
		for _, vars := range []map[string]string{
			{"MODEL_LOCATION": store.URI("1/Test123/artifacts/model.json"), "AWS_ENDPOINT_URL_S3": endpoint, "AWS_DEFAULT_REGION": "us-east-1"},
			{"MODEL_LOCATION": store.URI("1/Test123/artifacts/model.json") + "?region=us-east-1&endpoint=" + url.QueryEscape(endpoint)},
		} {
			e, err := lambda.ReadEnv(lookupIn(vars))
			if err != nil {
				t.Fatal(err)
			}
			art, err := lambda.LoadModel(ctx, e.ModelLocation, "", "Test123")
			if err != nil {
				t.Fatalf("%v: %v", vars, err)
			}
			if y, err := art.Predict(tripcast.Ride{PULocationID: 130, DOLocationID: 205, TripDistance: 3.66}); err != nil || y <= 0 {
				t.Fatalf("got %v, %v", y, err)
			}
		}
		e, _ := lambda.ReadEnv(lookupIn(map[string]string{"MODEL_LOCATION": store.URI("missing.json"), "AWS_ENDPOINT_URL_S3": endpoint, "AWS_REGION": "us-east-1"}))
		if _, err := lambda.LoadModel(ctx, e.ModelLocation, "", "x"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), "MODEL_LOCATION") {
			t.Fatalf("missing object: got %v, want ENOTFOUND naming MODEL_LOCATION", err)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		_, err := lambda.LoadModel(ctx, &lambda.Location{Path: filepath.Join(t.TempDir(), "none.json")}, "", "x")
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || tripcast.ErrorField(err) != "MODEL_LOCATION" {
			t.Fatalf("got %v, want ENOTFOUND naming MODEL_LOCATION", err)
		}
	})
	t.Run("ErrNotAModel", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "model.json")
		os.WriteFile(p, []byte(`{"hello": "world"}`), 0o644)
		_, err := lambda.LoadModel(ctx, &lambda.Location{Path: p}, "", "x")
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "MODEL_LOCATION" {
			t.Fatalf("got %v, want EINVALID naming MODEL_LOCATION", err)
		}
	})
}
