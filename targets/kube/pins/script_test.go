package pins

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeUpstream stands in for the registry (token, manifests by digest and
// by tag) and GitHub's release downloads, serving what p pins, except
// that movedTag answers another digest and missing answers 404.
func fakeUpstream(t *testing.T, p *Pins, movedTag, missing string) *httptest.Server {
	t.Helper()
	digests := map[string]bool{}
	tags := map[string]string{}
	for k, v := range p.values {
		if !strings.HasPrefix(k, "KIND_NODE_IMAGE") {
			continue
		}
		ref, digest, _ := strings.Cut(v, "@")
		tag := ref[strings.LastIndex(ref, ":")+1:]
		digests[digest] = true
		tags[tag] = digest
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("scope") != "repository:kindest/node:pull" {
			http.Error(w, "bad scope", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"token": "fake", "expires_in": 300}`)
	})
	mux.HandleFunc("/v2/kindest/node/manifests/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fake" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		ref := strings.TrimPrefix(r.URL.Path, "/v2/kindest/node/manifests/")
		switch {
		case digests[ref]:
			w.Header().Set("Docker-Content-Digest", ref)
		case ref == movedTag:
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("ab", 32))
		case tags[ref] != "":
			w.Header().Set("Docker-Content-Digest", tags[ref])
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("/releases/", func(w http.ResponseWriter, r *http.Request) {
		if missing != "" && strings.Contains(r.URL.Path, missing) {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".sha256") {
			fmt.Fprintf(w, "%s  %s\n", strings.Repeat("0f", 32), filepath.Base(strings.TrimSuffix(r.URL.Path, ".sha256")))
			return
		}
		fmt.Fprint(w, "tarball")
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func runPinsScript(t *testing.T, env ...string) (stdout, stderr string, code int, took time.Duration) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: hack/pins.sh needs it")
	}
	cmd := exec.Command("bash", filepath.Join("..", "..", "..", "hack", "pins.sh"))
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code, time.Since(start)
}

// hack/pins.sh (make pins) resolves every pin of hack/versions.env:
// all resolved prints the pin lines it saw and exits 0; a moved tag and a
// missing istioctl tarball are listed and fail the run; no network says it
// cannot check and exits 3. Each answer comes well within a minute.
func TestPinsScript(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "..", File), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := func(s *httptest.Server) []string {
		return []string{
			"PINS_REGISTRY=" + s.URL,
			"PINS_REGISTRY_AUTH=" + s.URL + "/token?service=fake",
			"PINS_RELEASES=" + s.URL + "/releases",
		}
	}

	out, errOut, code, took := runPinsScript(t, env(fakeUpstream(t, p, "", ""))...)
	if code != 0 {
		t.Fatalf("all pins served: exit %d\n%s%s", code, out, errOut)
	}
	newest := strings.ReplaceAll(p.IstioVersion(), ".", "_")
	for _, want := range []string{
		"ISTIOCTL_SHA256_" + newest + "_amd64=" + strings.Repeat("0f", 32),
		"ISTIOCTL_SHA256_" + newest + "_arm64=",
		"KIND_NODE_IMAGE=" + p.Get("KIND_NODE_IMAGE"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make pins does not print %q:\n%s", want, out)
		}
	}
	for _, v := range p.IstioVersions() {
		m, _ := Minor(v)
		key := "KIND_NODE_IMAGE_ISTIO_" + strings.ReplaceAll(m, ".", "_")
		if !strings.Contains(out, key+"="+p.Get(key)) {
			t.Errorf("make pins does not print %s:\n%s", key, out)
		}
	}
	if took > time.Minute {
		t.Errorf("took %s", took)
	}

	tag := strings.TrimPrefix(strings.Split(p.NodeImage(p.IstioVersion(), nil), "@")[0], "kindest/node:")
	out, errOut, code, _ = runPinsScript(t, env(fakeUpstream(t, p, tag, "istioctl-"+p.IstioVersion()+"-linux-arm64"))...)
	if code != 1 {
		t.Fatalf("a moved tag and a missing tarball: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"2 pin(s) did not resolve", "tag " + tag + " now names sha256:abab", "ISTIOCTL_SHA256_" + newest + "_arm64", "HTTP 404"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the failure does not say %q:\n%s", want, errOut)
		}
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there now: connection refused
	out, errOut, code, took = runPinsScript(t,
		"PINS_REGISTRY="+dead.URL, "PINS_REGISTRY_AUTH="+dead.URL+"/token?service=x", "PINS_RELEASES="+dead.URL)
	if code != 3 || !strings.Contains(errOut, "cannot check: no network") || strings.Contains(out, "resolved") {
		t.Errorf("offline: exit %d, want 3 and 'cannot check'\n%s%s", code, out, errOut)
	}
	if took > time.Minute {
		t.Errorf("offline took %s", took)
	}
}
