package vmm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// qmpClient speaks QEMU's monitor protocol on the connection QEMU made at
// start (its greeting waits in the socket until the first use).
type qmpClient struct {
	conn  *os.File
	r     *bufio.Reader
	ready bool
}

func newQMP(conn *os.File) *qmpClient { return &qmpClient{conn: conn, r: bufio.NewReader(conn)} }

// execute runs one command and waits for its return.
func (q *qmpClient) execute(cmd string, args map[string]any) error {
	_ = q.conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer q.conn.SetDeadline(time.Time{})
	if !q.ready {
		if _, err := q.r.ReadBytes('\n'); err != nil { // the greeting
			return fmt.Errorf("read qmp greeting: %w", err)
		}
		q.ready = true
		if err := q.execute("qmp_capabilities", nil); err != nil {
			return err
		}
	}
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var reply struct {
			Return *json.RawMessage `json:"return"`
			Error  *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		if json.Unmarshal(line, &reply) != nil {
			continue
		}
		if reply.Error != nil {
			return fmt.Errorf("qmp %s: %s", cmd, reply.Error.Desc)
		}
		if reply.Return != nil {
			return nil // events (no "return") are skipped
		}
	}
}

// serialSysrq types sysrq keys on the console's serial line (a break,
// then the key): the kernel answers them from its interrupt handler, so
// they work while the guest's userspace (the init included) is stuck.
// '8' first: the boot is quiet, and sysrq's reports are KERN_INFO.
func serialSysrq(q *qmpClient, console *os.File, keys string) error {
	for _, k := range keys {
		if err := q.execute("chardev-send-break", map[string]any{"id": "con"}); err != nil {
			return err
		}
		if _, err := console.Write([]byte(string(k))); err != nil {
			return fmt.Errorf("type sysrq %c: %w", k, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}
