// Package istioline knows the Istio lines firstbyte can predict with: the
// istio.io/istio module pinned by the main go.mod, and one more per
// hack/istio/<line>/go.mod. It names each line by what its module states
// (the VERSION file, and the branch of the build-tools image that
// common/scripts/setup_env.sh pins), never by a typed label; it resolves
// a user's name for a line ("1.30", "1.31", "master", "release-1.31");
// and it builds and caches one firstbyte binary per line
// (bin/firstbyte-<line>, go build -modfile), rebuilding only when a
// source of the module or the line's go.mod/go.sum changed.
//
// The package links no Istio code: it reads the module's files, so the
// gate and analyze can list and build lines without compiling each one.
//
//	lines, err := istioline.All(root)             // every line, main first
//	l, err := istioline.Resolve(root, "1.30")       // a user's name → one line
//	bin, err := l.Binary(ctx, root, os.Stderr)      // build (or reuse) bin/firstbyte-<line>
package istioline
