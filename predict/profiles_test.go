package predict

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"istio.io/istio/pilot/pkg/features"
)

// Ambient generations share the ambient flags: two of them hold the
// profile at once (the old lock let one in at a time, which serialized
// the catalogue's 40 ambient generator runs).
func TestAmbientGenerationsShareTheProfile(t *testing.T) {
	var both sync.WaitGroup
	both.Add(2)
	done := make(chan struct{})
	for range 2 {
		go func() {
			release := useFeatures(true)
			both.Done()
			both.Wait() // returns only once both hold the ambient profile
			release()
			done <- struct{}{}
		}()
	}
	for range 2 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("two ambient generations could not hold the ambient profile at the same time")
		}
	}
	release := useFeatures(false)
	defer release()
	if features.EnableAmbient {
		t.Error("the ambient flags stayed on after the last ambient generation released them")
	}
}

// A generation always sees its own profile's flags, however sidecar and
// ambient generations interleave.
func TestGenerationsSeeTheirOwnProfile(t *testing.T) {
	release := useFeatures(false)
	before := features.EnableAmbient
	release()
	var wrong atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ambient := i%3 == 0
			release := useFeatures(ambient)
			for range 50 {
				if features.EnableAmbient != ambient || features.EnableAmbientWaypoints != ambient && ambient {
					wrong.Add(1)
				}
				time.Sleep(10 * time.Microsecond)
			}
			release()
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d reads saw the other profile's flags", n)
	}
	release = useFeatures(false)
	defer release()
	if features.EnableAmbient != before {
		t.Errorf("EnableAmbient is %v after every generation released the flags, was %v", features.EnableAmbient, before)
	}
}
