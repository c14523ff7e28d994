package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/blob/blobtest"
	"tripcast/internal/kinesisevent"
	"tripcast/internal/testenv"
	"tripcast/internal/testfiles"
	"tripcast/lambda"
	"tripcast/lambda/lambdatest"
	"tripcast/predlog"
	"tripcast/stream"
)

func TestLambdaEvent(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	mustRun := mustRunWith(t, base...)
	mustRun("train", "--train", testfiles.Green(t, "2021-01"), "--valid", testfiles.Green(t, "2021-02"),
		"--promote-if-better", "--param", "num_boost_round=10", "--param", "max_depth=4")
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, kinesisevent.Course(
		`{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 256}`,
		`{"ride": {"PULocationID": 130, "DOLocationID": 999, "trip_distance": 3.66}, "ride_id": 257}`,
	), 0o644)
	out := mustRun("lambda", "--event", event)
	var resp struct {
		Predictions []struct {
			Model      string `json:"model"`
			Version    string `json:"version"`
			Prediction struct {
				RideDuration float64     `json:"ride_duration"`
				RideID       json.Number `json:"ride_id"` // a number, as it came
			} `json:"prediction"`
		} `json:"predictions"`
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		DeadLettered      int               `json:"deadLettered"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(resp.Predictions) != 1 || resp.Predictions[0].Version != "1" || resp.Predictions[0].Prediction.RideID != "256" ||
		resp.Predictions[0].Prediction.RideDuration <= 0 || resp.DeadLettered != 1 || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %s", out)
	}
}

// courseEvent is the ride of the course's Lambda test event.
const courseEvent = `{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 256}`

// courseAnswer is the course's expected answer to its test event with
// RUN_ID=Test123 (its ride_duration comes from the course's model).
const courseAnswer = `{"predictions": [{"model": "ride_duration_prediction_model", "version": "Test123",
	"prediction": {"ride_duration": 21.3, "ride_id": 256}}]}`

// unreachableDB is a metadata database nothing listens on: a command given
// it fails if it opens the database.
const unreachableDB = "postgres://tripcast@127.0.0.1:1/none?connect_timeout=1"

// checkCourseAnswer fails the test unless got is the course's expected
// answer with version (Test123 for the course) in every respect but
// ride_duration, which must be a positive number. Numbers are compared as
// their JSON text, so a ride_id echoed as "256" differs from 256, as it
// does for the course's DeepDiff.
func checkCourseAnswer(t *testing.T, got []byte, version string) {
	t.Helper()
	decode := func(b []byte) map[string]any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		preds, ok := m["predictions"].([]any)
		if !ok || len(preds) != 1 {
			t.Fatalf("got %s, want one prediction", b)
		}
		p, _ := preds[0].(map[string]any)["prediction"].(map[string]any)
		d, _ := p["ride_duration"].(json.Number)
		if y, err := d.Float64(); err != nil || y <= 0 {
			t.Fatalf("ride_duration in %s: want a positive number", b)
		}
		p["ride_duration"] = nil
		return m
	}
	want := decode([]byte(strings.Replace(courseAnswer, "Test123", version, 1)))
	if g := decode(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("got %s\nwant %s (ride_duration aside)", got, courseAnswer)
	}
}

// lambdaChildEnv marks the test binary the emulator starts as the function.
const lambdaChildEnv = "TRIPCAST_LAMBDA_CMD_CHILD"

// TestLambdaRIEChild is the Lambda function under the emulator (see
// TestLambdaCourseRIE): `tripcast lambda`, configured by its environment.
func TestLambdaRIEChild(t *testing.T) {
	if os.Getenv(lambdaChildEnv) == "" {
		t.Skip("runs only as the function under the Lambda Runtime Interface Emulator")
	}
	_, err := runCmd(t, "lambda")
	t.Fatal(err) // the runtime loop never returns
}

// TestLambdaCourseRIE runs the course's Lambda integration test: the
// function configured as the course's docker-compose configures it, with
// a model file and no metadata database, invoked with the course's event
// through AWS's Runtime Interface Emulator; the answer is the course's,
// ride_duration aside.
func TestLambdaCourseRIE(t *testing.T) {
	if os.Getenv(lambdaChildEnv) != "" {
		t.Skip("child process")
	}
	dir := t.TempDir()
	body := lambdatest.Invoke(t, []string{os.Args[0], "-test.run=^TestLambdaRIEChild$"}, []string{
		lambdaChildEnv + "=1",
		"TRIPCAST_DATA_DIR=" + dir, "TRIPCAST_DB=" + unreachableDB, "TRIPCAST_LOG_LEVEL=warn",
		"PREDICTIONS_STREAM_NAME=ride_predictions", "TEST_RUN=True", "RUN_ID=Test123",
		"MODEL_LOCATION=" + lambdatest.ModelFile(t), "KINESIS_ENDPOINT_URL=http://127.0.0.1:4567",
		"AWS_DEFAULT_REGION=eu-west-1",
	}, kinesisevent.Course(courseEvent))
	checkCourseAnswer(t, body, "Test123")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the function wrote %v in the data directory, want nothing (no database, no log)", ents)
	}
}

// setCourseEnv sets the course's Lambda variables for the test (a value ""
// unsets the variable), with no metadata database and AWS_REGION unset.
func setCourseEnv(t *testing.T, vars map[string]string) {
	t.Setenv("TRIPCAST_DB", unreachableDB)
	vars["AWS_REGION"] = ""
	for k, v := range vars {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

func TestLambdaCourseEnv(t *testing.T) {
	ctx := context.Background()
	eventFile := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventFile, kinesisevent.Course(courseEvent), 0o644); err != nil {
		t.Fatal(err)
	}
	// Publishing to kinesalite: the stream is read back from the start.
	openKinesis := func(t *testing.T, name string) *stream.Kinesis {
		testenv.Require(t, "kinesalite", "127.0.0.1:4567")
		k, err := stream.OpenKinesis(ctx, "kinesis://?region=eu-west-1&endpoint=http://127.0.0.1:4567", noCheckpoints{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.DeleteStream(context.Background(), name) })
		return k
	}
	published := func(t *testing.T, k *stream.Kinesis, name string) []string {
		var got []string
		if err := k.Scan(ctx, name, time.Time{}, func(m tripcast.Message) error {
			got = append(got, string(m.Data))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("OKPublishesToKinesisModelOnS3", func(t *testing.T) {
		name := fmt.Sprintf("lambda_course_%d", time.Now().UnixNano())
		k := openKinesis(t, name)
		store := blobtest.MustOpenS3(t, "lambda")
		f, err := os.Open(lambdatest.ModelFile(t))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := store.Put(ctx, "models/Test123/model.json", f); err != nil {
			t.Fatal(err)
		}
		// versitygw's region is us-east-1: the URL's parameter wins over
		// AWS_DEFAULT_REGION, which Kinesis uses.
		setCourseEnv(t, map[string]string{"PREDICTIONS_STREAM_NAME": name, "KINESIS_ENDPOINT_URL": "http://127.0.0.1:4567",
			"RUN_ID": "Test123", "MODEL_LOCATION": store.URI("models/Test123/model.json") + "?region=us-east-1",
			"AWS_ENDPOINT_URL_S3": testenv.S3Endpoint(t), "AWS_DEFAULT_REGION": "eu-west-1"})
		dir := t.TempDir()
		out := mustRunWith(t, "--data-dir", dir, "--log-level", "warn")("lambda", "--event", eventFile)
		checkCourseAnswer(t, []byte(out), "Test123")
		var resp lambda.Response
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatal(err)
		}
		if got := published(t, k, name); len(got) != 1 || got[0] != string(resp.Predictions[0]) {
			t.Fatalf("stream %s holds %q, want the answer's prediction %s", name, got, resp.Predictions[0])
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("wrote %v in the data directory, want nothing", ents)
		}
	})
	t.Run("OKTestRunPublishesNothing", func(t *testing.T) {
		name := fmt.Sprintf("lambda_testrun_%d", time.Now().UnixNano())
		k := openKinesis(t, name)
		if err := k.EnsureStream(ctx, name); err != nil {
			t.Fatal(err)
		}
		setCourseEnv(t, map[string]string{"PREDICTIONS_STREAM_NAME": name, "KINESIS_ENDPOINT_URL": "http://127.0.0.1:4567",
			"TEST_RUN": "True", "RUN_ID": "Test123", "MODEL_LOCATION": lambdatest.ModelFile(t), "AWS_DEFAULT_REGION": "eu-west-1"})
		out := mustRunWith(t, "--data-dir", t.TempDir(), "--log-level", "warn")("lambda", "--event", eventFile)
		checkCourseAnswer(t, []byte(out), "Test123")
		if got := published(t, k, name); len(got) != 0 {
			t.Fatalf("TEST_RUN=True published %q to %s", got, name)
		}
	})
	t.Run("OKParquetLogInGivenBlobStore", func(t *testing.T) {
		blobDir := t.TempDir()
		setCourseEnv(t, map[string]string{"TEST_RUN": "1", "RUN_ID": "Test123", "MODEL_LOCATION": lambdatest.ModelFile(t),
			"TRIPCAST_BLOB": "file://" + filepath.ToSlash(blobDir)})
		from := time.Now().Add(-time.Hour)
		out := mustRunWith(t, "--data-dir", t.TempDir(), "--log-level", "warn")("lambda", "--event", eventFile)
		checkCourseAnswer(t, []byte(out), "Test123")
		store, err := blob.NewFile(blobDir)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		recs, err := predlog.Read(ctx, store, from, time.Now().Add(time.Hour))
		if err != nil || len(recs) != 1 || recs[0].RideID != "256" || recs[0].Version != "Test123" || recs[0].Source != tripcast.SourceLambda {
			t.Fatalf("parquet log holds %+v (%v), want ride 256 by version Test123 from lambda", recs, err)
		}
	})
	t.Run("OKRunIDPicksRegisteredVersion", func(t *testing.T) {
		dir := t.TempDir()
		mustRun := mustRunWith(t, "--data-dir", dir, "--log-level", "warn")
		mustRun("train", "--train", testfiles.Green(t, "2021-01"), "--register", "--param", "num_boost_round=5", "--param", "max_depth=3")
		var vs []tripcast.ModelVersion
		if err := json.Unmarshal([]byte(mustRun("models", "list", "--json")), &vs); err != nil || len(vs) != 1 || vs[0].RunID == "" {
			t.Fatalf("versions %+v (%v), want one from a run", vs, err)
		}
		run := vs[0].RunID
		setCourseEnv(t, map[string]string{"TEST_RUN": "True", "RUN_ID": run, "TRIPCAST_DB": ""})
		out := mustRun("lambda", "--event", eventFile)
		checkCourseAnswer(t, []byte(out), run)
		// The flag wins over the variable; a run that registered nothing
		// is an error naming RUN_ID.
		_, err := runCmd(t, "lambda", "--event", eventFile, "--run-id", "no-such-run", "--data-dir", dir, "--log-level", "error")
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || tripcast.ErrorField(err) != "RUN_ID" || !strings.Contains(err.Error(), "MODEL_LOCATION") {
			t.Fatalf("got %v, want ENOTFOUND naming RUN_ID and MODEL_LOCATION", err)
		}
	})
	t.Run("ErrBadVariable", func(t *testing.T) {
		setCourseEnv(t, map[string]string{"TEST_RUN": "yes", "MODEL_LOCATION": lambdatest.ModelFile(t)})
		_, err := runCmd(t, "lambda", "--event", eventFile, "--data-dir", t.TempDir(), "--log-level", "error")
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "TEST_RUN" {
			t.Fatalf("got %v, want EINVALID naming TEST_RUN", err)
		}
	})
}
