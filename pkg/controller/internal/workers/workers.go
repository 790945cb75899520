// Package workers runs the queue workers of this project's controllers.
package workers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
)

// Run waits for synced, then runs n copies of work until ctx ends; it then calls
// shutDown (the queue's ShutDown, which makes work return) and waits for every copy.
// It returns at once, with shutDown called, when the caches never sync.
func Run(ctx context.Context, n int, synced cache.InformerSynced, shutDown func(), work func(context.Context)) {
	defer shutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced) {
		return
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { wait.UntilWithContext(ctx, work, time.Second) })
	}
	<-ctx.Done()
	shutDown()
	wg.Wait()
}
