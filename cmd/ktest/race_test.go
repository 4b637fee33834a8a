//go:build race

package main

// raceBuild reports a -race build, which is dynamically linked and whose
// runtime opens files of its own at start.
const raceBuild = true
