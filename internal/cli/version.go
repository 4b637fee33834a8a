package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString reports the main module's version from the build info, with
// the VCS revision when the binary was built from a checkout.
func versionString() string {
	version, revision, dirty := "(devel)", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := "ktest " + version
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		if dirty {
			revision += "-dirty"
		}
		out += " " + revision
	}
	return fmt.Sprintf("%s (%s %s/%s)", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
