// Package vmconfig reads `.ktest.toml`, the per-module guest settings of
// `ktest --vm` (docs/spec.md §19):
//
//	[vm]
//	cpus = 2
//	memory = "1G"
//	modules = ["dummy"]
//	setup = ["ip link set lo up"]
//	pack = ["ip"]
//
// The file sits next to go.mod; Load finds it by walking up from a
// package directory to the nearest go.mod. It is strict: an unknown key,
// a value of the wrong type or out of range is an error naming
// file:line and, for keys, the valid ones. Settings layer as
// Defaults() < file < flags (VM.Override).
package vmconfig
