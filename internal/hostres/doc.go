// Package hostres reads the host's resources that decide how many guests
// may run at once: online CPUs (/sys/devices/system/cpu/online) and memory
// (MemTotal and MemAvailable in /proc/meminfo), lowered to the limits of
// this process's cgroup (v2 or v1: memory limit, CPU quota, cpuset), since
// a CI container is OOM-killed at its cgroup's limit, not the host's.
//
// It is a leaf package (standard library only) so that the guest side
// (vm/guest), the host snapshot of the skip sidecar (internal/testproto)
// and host-wide admission (internal/admission) share one parser of each
// file. The parsers never panic (see the fuzz targets).
package hostres
