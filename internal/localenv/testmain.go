package localenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RunTests is the TestMain of a test package that needs a real environment: it brings one
// up in a fresh directory on free ports with the given members (after configure, when
// set, adjusts it), calls run with it (which runs the tests), and takes it down. The directory is removed when the
// tests pass and kept, with its logs, when they fail. A failed start fails the package:
// without the environment nothing in it is tested.
func RunTests(name string, configure func(*Env), run func(*Env) int, members ...string) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		panic(err)
	}
	ports, err := FreePorts(members...)
	if err != nil {
		panic(err)
	}
	env, err := New(dir, filepath.Join(root, "_output", "bin"), ports, members...)
	if err != nil {
		panic(err)
	}
	if configure != nil {
		configure(env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := env.Up(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: environment did not come up (logs in %s): %v\n", name, dir, err)
		return 1
	}
	fmt.Printf("%s: environment up in %s (dir %s)\n", name, time.Since(start).Round(time.Millisecond), dir)
	code := run(env)
	if err := env.Down(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "%s: logs kept in %s\n", name, filepath.Join(dir, "logs"))
	}
	return code
}
