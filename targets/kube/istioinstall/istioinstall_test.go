package istioinstall

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/targets/kube/pins"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var root = filepath.Join("..", "..", "..")

// The install values render and decode strictly for every pinned Istio
// version.
func TestInstallValuesDecodeStrictly(t *testing.T) {
	p, err := pins.Load(filepath.Join(root, pins.File), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append([]string{p.IstioVersion()}, p.IstioVersions()...) {
		r, err := Render(filepath.Join(root, "hack", "istio", "values.yaml.tmpl"), Values{Version: v, Hub: p.IstioHub()})
		if err != nil {
			t.Fatalf("Istio %s: %v", v, err)
		}
		if r.Operator.Spec.Profile != "minimal" || !r.Mesh.GetDefaultConfig().GetHoldApplicationUntilProxyStarts().GetValue() {
			t.Errorf("Istio %s: profile %q, holdApplicationUntilProxyStarts %v", v, r.Operator.Spec.Profile, r.Mesh.GetDefaultConfig().GetHoldApplicationUntilProxyStarts())
		}
		if !strings.Contains(string(r.YAML), `tag: "`+v+`"`) {
			t.Errorf("Istio %s: the rendered values do not pin the tag:\n%s", v, r.YAML)
		}
	}
}

func TestDecodeIsStrict(t *testing.T) {
	base := "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n"
	for _, tc := range []struct{ doc, want string }{
		{base + "  profil: minimal\n", "profil"},
		{base + "  meshConfig:\n    accessLogFiles: /dev/stdout\n", "accessLogFiles"},
		{base + "  values:\n    pilot:\n      autoscaleEnable: false\n", "autoscaleEnable"},
		{"apiVersion: v1\nkind: ConfigMap\n", "want kind: IstioOperator"},
	} {
		if _, err := Decode([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an error naming %q", tc.doc, err, tc.want)
		}
	}
}

func TestRenderChecksWhatTheSuiteNeeds(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join(root, "hack", "istio", "values.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"mode: ALLOW_ANY", "mode: REGISTRY_ONLY", "must be ALLOW_ANY"},
		{"accessLogFile: /dev/stdout", "accessLogFile: /dev/null", "/dev/stdout"},
		{"tag: {{ .Version | quote }}", "tag: latest", "want the Istio version"},
	} {
		p := filepath.Join(t.TempDir(), "values.yaml.tmpl")
		os.WriteFile(p, []byte(strings.Replace(string(tmpl), tc.from, tc.to, 1)), 0o644)
		if _, err := Render(p, Values{Version: "1.29.8", Hub: "docker.io/istio"}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("template with %q: %v, want an error naming %q", tc.to, err, tc.want)
		}
	}
}

func TestImageTag(t *testing.T) {
	for img, want := range map[string]string{
		"docker.io/istio/pilot:1.29.8":                 "1.29.8",
		"gcr.io/istio-release/pilot:1.30.5-distroless": "1.30.5",
		"localhost:5000/pilot:1.28.4@sha256:abc":       "1.28.4",
		"localhost:5000/pilot":                         "",
	} {
		if got := ImageTag(img); got != want {
			t.Errorf("ImageTag(%s) = %q, want %q", img, got, want)
		}
	}
}

func istiod(rev string) *appsv1.Deployment {
	name, labels := "istiod", map[string]string{"app": "istiod"}
	if rev != "" {
		name, labels["istio.io/rev"] = "istiod-"+rev, rev
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name, Labels: labels}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:1.29.8"}}
	return d
}

func TestDetect(t *testing.T) {
	ctx := context.Background()
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name}}
	}
	build := func(objs ...client.Object) client.Client {
		return fake.NewClientBuilder().WithScheme(fixtures.Scheme).WithObjects(objs...).Build()
	}
	in, err := Detect(ctx, build(istiod(""), cm("istio")))
	if err != nil || in.Version != "1.29.8" || in.MeshConfigMap.Name != "istio" {
		t.Errorf("Detect = %+v, %v", in, err)
	}
	in, err = Detect(ctx, build(istiod("1-30"), cm("istio-1-30")))
	if err != nil || in.MeshConfigMap.Name != "istio-1-30" {
		t.Errorf("Detect of a revisioned install = %+v, %v", in, err)
	}
	if _, err := Detect(ctx, build()); err == nil || !strings.Contains(err.Error(), "has no Istio") || !strings.Contains(err.Error(), "TARGET=kind") {
		t.Errorf("Detect without Istio = %v, want the fix named", err)
	}
}

func TestIstioctlCheck(t *testing.T) {
	i := &Istioctl{Path: filepath.Join(t.TempDir(), "istioctl-1.29.8"), Version: "1.29.8"}
	if err := i.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "hack/istioctl.sh 1.29.8") {
		t.Errorf("Check of a missing istioctl = %v, want the download script named", err)
	}
	fakeBin := filepath.Join(t.TempDir(), "istioctl")
	os.WriteFile(fakeBin, []byte("#!/bin/sh\necho 1.28.4\n"), 0o755)
	i.Path = fakeBin
	if err := i.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "want 1.29.8") {
		t.Errorf("Check of the wrong version = %v", err)
	}
}
