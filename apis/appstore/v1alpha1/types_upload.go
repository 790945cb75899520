package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartChunk is a piece of an uploaded chart archive. cluster-apiserver stores it in etcd
// and never serves it: an archive of up to 20 MiB is kept as several records, each below
// etcd's request limit. It is registered only so that it can be stored.
type ChartChunk struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Data is this piece of the archive.
	Data []byte `json:"data"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartChunkList is a list of ChartChunks.
type ChartChunkList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of ChartChunks.
	Items []ChartChunk `json:"items"`
}
