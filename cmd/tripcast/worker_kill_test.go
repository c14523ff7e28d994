package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/sqlstore/sqlstoretest"
)

// workerChildEnv holds the arguments of tripcast worker in the child
// process, separated by \x1f.
const workerChildEnv = "TRIPCAST_WORKER_CHILD"

// TestWorkerChild is tripcast worker in a child process of
// TestWorkerKilledDuringTraining.
func TestWorkerChild(t *testing.T) {
	spec := os.Getenv(workerChildEnv)
	if spec == "" {
		t.Skip("only runs as the child of TestWorkerKilledDuringTraining")
	}
	runChild(t, strings.Split(spec, "\x1f"), os.Interrupt, syscall.SIGTERM)
}

// childLog is a child's stderr, read while it is written.
type childLog struct{ path string }

func (c *childLog) contains(s string) bool {
	b, _ := os.ReadFile(c.path)
	return strings.Contains(string(b), s)
}

// TestWorkerKilledDuringTraining runs two tripcast worker processes on one
// PostgreSQL queue and SIGKILLs the one that is training: the other runs
// the step again (after the rescue delay) and the run completes once, with
// one model version and one promotion.
func TestWorkerKilledDuringTraining(t *testing.T) {
	if os.Getenv(workerChildEnv) != "" {
		t.Skip("inside the child")
	}
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	dbURL := sqlstoretest.FreshPostgres(t)
	dir := t.TempDir()
	common := []string{"--data-dir", dir, "--db", dbURL}
	run := mustRunWith(t, common...)
	run("ingest", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))

	start := func(name string) (*exec.Cmd, *childLog) {
		args := append([]string{"worker", "--pipeline-retries", "1", "--pipeline-retry-delay", "1s",
			"--pipeline-step-timeout", "20s", "--pipeline-rescue-after", "21s",
			"--pipeline-param", "num_boost_round=150", "--pipeline-param", "max_depth=8", "--pipeline-param", "early_stopping_rounds=0",
			"--schedule", "train=off", "--schedule", "monitor=off", "--schedule", "batch=off"}, common...)
		logPath := filepath.Join(dir, name+".log")
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), workerChildEnv+"="+strings.Join(args, "\x1f"))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			f.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("%s log:\n%s", name, b)
			}
		})
		return cmd, &childLog{path: logPath}
	}
	w1, log1 := start("worker1")
	w2, log2 := start("worker2")

	out := run("pipeline", "run", "train", "--train", "2021-01", "--valid", "2021-02", "--json")
	var submitted tripcast.PipelineRun
	if err := json.Unmarshal([]byte(out), &submitted); err != nil {
		t.Fatal(err)
	}
	id := submitted.ID
	training := `msg="pipeline step started" run=` + id + ` pipeline=train step=fit`
	deadline := time.Now().Add(time.Minute)
	var victim *exec.Cmd
	for victim == nil {
		switch {
		case log1.contains(training):
			victim = w1
		case log2.contains(training):
			victim = w2
		case time.Now().After(deadline):
			t.Fatal("no worker started training within a minute")
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // well inside the training
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.Wait()

	var r tripcast.PipelineRun
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if err := json.Unmarshal([]byte(run("pipeline", "show", id, "--json")), &r); err != nil {
			t.Fatal(err)
		}
		if tripcast.PipelineDone(r.Status) || time.Now().After(deadline) {
			break
		}
	}
	if r.Status != tripcast.PipelineSucceeded {
		t.Fatalf("got status %s (%s), want succeeded; steps %+v", r.Status, r.Error, r.Steps)
	}
	if fit := r.Step("fit"); fit.Attempts != 2 {
		t.Errorf("fit: got %d attempts, want 2 (the killed one, then the rescue)", fit.Attempts)
	}
	var versions []tripcast.ModelVersion
	if err := json.Unmarshal([]byte(run("models", "list", "--json")), &versions); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || versions[0].RunID != r.Step("fit").Outputs["training_run"] {
		t.Errorf("got %d model versions, want 1, from the training run that finished", len(versions))
	}
	var champ struct {
		AliasHistory []tripcast.AliasMove `json:"alias_history"`
	}
	if err := json.Unmarshal([]byte(run("models", "show", "champion", "--json")), &champ); err != nil {
		t.Fatal(err)
	}
	if len(champ.AliasHistory) != 1 {
		t.Errorf("got %d alias moves, want 1 promotion: %+v", len(champ.AliasHistory), champ.AliasHistory)
	}
	if got := r.Step("promote").Outputs["alias"]; got != "champion" {
		t.Errorf("promote: got alias %q, want champion", got)
	}
}
