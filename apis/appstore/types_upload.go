package appstore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartChunk is a piece of an uploaded chart archive, stored in etcd and never served:
// an archive of up to 20 MiB is kept as several records, each below etcd's request limit.
// Its name is "<version name>.<sha256 of the archive>.<index>".
type ChartChunk struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Data []byte
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartChunkList is a list of ChartChunks.
type ChartChunkList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ChartChunk
}
