package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the binaries the tests build, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "tripcast-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// testVersion is the release version the tests link into the binary.
const testVersion = "v0.0.0-deploytest"

// tripcastBinary builds ./cmd/tripcast for this machine once per test run,
// with the release version linked in as make release does.
func tripcastBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "tripcast")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-ldflags", "-X tripcast.buildVersion="+testVersion, "-o", bin, "../cmd/tripcast").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tripcast: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
