package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"tripcast/config"
)

// pendingRoles are roles the deployment files run that are still being
// built (none now: every role they run exists).
var pendingRoles = []string{}

// roleHelp returns the --help text of tripcast <role>, or "" when the role
// does not exist.
func roleHelp(t *testing.T, role string) string {
	t.Helper()
	out, err := exec.Command(tripcastBinary(t), role, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tripcast "+role) {
		return ""
	}
	return string(out)
}

var flagName = regexp.MustCompile(`^--([a-z][a-z0-9-]*)`)

// checkCommand checks that args[0] is a tripcast role and every --flag the
// args pass is one of its flags.
func checkCommand(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no command", where)
		return
	}
	help := roleHelp(t, args[0])
	if help == "" {
		if slices.Contains(pendingRoles, args[0]) {
			t.Logf("%s: role %s is pending (being built)", where, args[0])
		} else {
			t.Errorf("%s: tripcast has no role %q", where, args[0])
		}
		return
	}
	for _, a := range args[1:] {
		if m := flagName.FindStringSubmatch(a); m != nil && !strings.Contains(help, "--"+m[1]+" ") {
			t.Errorf("%s: tripcast %s has no flag --%s", where, args[0], m[1])
		}
	}
}

// checkEnv checks that every TRIPCAST_* variable is a setting.
func checkEnv(t *testing.T, where string, keys []string) {
	t.Helper()
	valid := []string{"TRIPCAST_CONFIG"}
	for _, f := range config.Fields() {
		valid = append(valid, f.Env)
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, "TRIPCAST_") {
			n++
			if !slices.Contains(valid, k) {
				t.Errorf("%s: %s is not a tripcast setting (%v)", where, k, valid)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: sets no TRIPCAST_* variable", where)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   any               `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	readYAML(t, "../compose.yaml", &c)
	for _, need := range []string{"tripcast", "worker", "postgres", "nats", "s3", "prometheus", "grafana"} {
		if _, ok := c.Services[need]; !ok {
			t.Errorf("compose.yaml: no %s service", need)
		}
	}
	for name, s := range c.Services {
		where := "compose.yaml " + name
		if s.Image == "" {
			t.Errorf("%s: no image", where)
		}
		if strings.HasPrefix(s.Image, "tripcast:") {
			checkCommand(t, where, s.Command)
			var keys []string
			for k := range s.Environment {
				keys = append(keys, k)
			}
			checkEnv(t, where, keys)
			if s.Healthcheck != nil && (len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[1] != "/usr/local/bin/healthcheck") {
				t.Errorf("%s: healthcheck %v does not run the image's probe", where, s.Healthcheck.Test)
			}
		}
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s: mounts %s: %v", where, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %s is not declared", where, src)
			}
		}
	}
	// Prometheus scrapes the tripcast service on its listen port.
	b, _ := os.ReadFile("prometheus/prometheus.yml")
	if !strings.Contains(string(b), `"tripcast:8080"`) || !slices.Contains(c.Services["tripcast"].Command, "0.0.0.0:8080") {
		t.Error("prometheus.yml does not scrape tripcast:8080, or the tripcast service does not listen on 0.0.0.0:8080")
	}
}

// dockerInstructions returns the Dockerfile's instructions with their
// arguments, continuation lines joined.
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cur == "" {
			continue
		}
		cur += " " + strings.TrimSuffix(line, "\\")
		if strings.HasSuffix(line, "\\") {
			continue
		}
		kw, rest, _ := strings.Cut(strings.TrimSpace(cur), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t)
	var froms, envKeys []string
	var user, cmd, entry, health string
	for _, in := range ins {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "USER":
			user = in[1]
		case "CMD":
			cmd = in[1]
		case "ENTRYPOINT":
			entry = in[1]
		case "HEALTHCHECK":
			health = in[1]
		case "ENV":
			for _, kv := range strings.Fields(in[1]) {
				envKeys = append(envKeys, strings.SplitN(kv, "=", 2)[0])
			}
		case "RUN":
			if strings.Contains(in[1], "go build") && !strings.Contains(in[1], "CGO_ENABLED=0") {
				t.Errorf("RUN %s: not a static build (CGO_ENABLED=0)", in[1])
			}
		}
	}
	if len(froms) < 2 || !strings.Contains(froms[len(froms)-1], "distroless/static") {
		t.Errorf("stages %v: want a multi-stage build ending on distroless-static", froms)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if entry != `["/usr/local/bin/tripcast"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
	checkCommand(t, "Dockerfile CMD", jsonArgs(t, cmd))
	checkEnv(t, "Dockerfile ENV", envKeys)
	if !strings.Contains(health, `"/usr/local/bin/healthcheck"`) || !strings.Contains(health, "/readyz") {
		t.Errorf("HEALTHCHECK %s: want the probe on /readyz", health)
	}
	if _, err := os.Stat("healthcheck/main.go"); err != nil {
		t.Errorf("the probe the image builds: %v", err)
	}
	// The build context keeps the sample the binary embeds.
	di, _ := os.ReadFile("../.dockerignore")
	if !strings.Contains(string(di), "!internal/sample/*.parquet") {
		t.Error(".dockerignore excludes parquet files without keeping internal/sample's embedded sample")
	}
}

// jsonArgs parses an exec-form ["a", "b"] instruction argument.
func jsonArgs(t *testing.T, s string) []string {
	t.Helper()
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		t.Fatalf("%q is not exec form", s)
	}
	var out []string
	for _, p := range strings.Split(s[1:len(s)-1], ",") {
		out = append(out, strings.Trim(strings.TrimSpace(p), `"`))
	}
	return out
}

// TestSystemdUnit checks the unit runs a tripcast role per instance and
// restarts it, and that the example environment file sets real settings.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/tripcast@.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/tripcast %i\n", "Restart=always\n", "User=tripcast\n", "EnvironmentFile=/etc/tripcast/env\n", "NoNewPrivileges=true\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("tripcast@.service lacks %q", strings.TrimSpace(want))
		}
	}
	for _, role := range []string{"up", "serve", "consume", "worker"} {
		checkCommand(t, "tripcast@"+role, []string{role})
	}
	env, err := os.ReadFile("systemd/env.example")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(string(env), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		if k, _, ok := strings.Cut(line, "="); ok && !strings.Contains(k, " ") {
			keys = append(keys, k)
		}
	}
	checkEnv(t, "env.example", keys)
}

var settingName = regexp.MustCompile(`\bTRIPCAST_[A-Z_]+\b`)

// TestTerraformSettings checks that the settings the Lambda and the
// instance get from Terraform are tripcast settings.
func TestTerraformSettings(t *testing.T) {
	for _, f := range []string{"terraform/modules/lambda/main.tf", "terraform/modules/service/user_data.sh.tftpl"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkEnv(t, f, settingName.FindAllString(string(b), -1))
	}
}
