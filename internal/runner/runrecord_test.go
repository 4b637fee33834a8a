package runner

import (
	"testing"
)

// TestPackageRecordsSkipBuildOutput: build output, which testjson files
// under the package "", is no package of run.json.
func TestPackageRecordsSkipBuildOutput(t *testing.T) {
	in := `{"ImportPath":"b [b.test]","Action":"build-output","Output":"# b\n"}
{"ImportPath":"b [b.test]","Action":"build-fail"}
` + stream(t, "b start", "b output - FAIL\tb [build failed]\n", "b fail")
	_, _, exec := render(t, in, sinkConfig{})
	recs := packageRecords(&Result{exec: exec})
	if len(recs) != 1 || recs[0].Name != "b" || recs[0].Result != "fail" {
		t.Errorf("package records %+v, want only b, failed", recs)
	}
}
