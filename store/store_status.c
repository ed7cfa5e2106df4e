/* store/store_status.c - the .ragfs/ files (status.json, stats.json,
 * config.json) and the default index struct. See store.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ann.h"
#include "jsonutil.h"
#include "vecbatch.h"
#include "vecquant.h"
#include "store_int.h"

/* One line of valid UTF-8 JSON (paths in errors may hold any bytes). */
static int print_free(cJSON *o, struct buf *out)
{
	int rc = o ? json_print_spaced(o, out) : -ENOMEM;
	if (!rc)
		rc = buf_addc(out, '\n');
	cJSON_Delete(o);
	return rc;
}

static void add_time(cJSON *o, const char *name, int64_t ns)
{
	if (!ns) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	char when[40];
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, name, when);
}

static size_t coll_count(const struct state *st, const char *coll)
{
	const struct map *c = state_coll(st, coll);
	return c ? map_count(c) : 0;
}

struct unindexed {
	const struct state *st;
	size_t n;
};

static int count_one(const char *key, void *val, void *ctx)
{
	struct unindexed *u = ctx;
	(void)val;
	u->n += !state_get(u->st, COLL_REFDOC, key);
	return 0;
}

/* Documents with no nodes (binary, or empty): no sort needed to count. */
static size_t count_unindexed(const struct state *st)
{
	const struct map *docs = state_coll(st, COLL_DOCS);
	struct unindexed u = { st, 0 };
	if (docs)
		map_each(docs, count_one, &u);
	return u.n;
}

int store_render_status(struct store *s, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	char last[1100];
	const struct state *st = store_read_begin(s);
	cJSON_AddNumberToObject(o, "docs", (double)coll_count(st, COLL_DOCS));
	cJSON_AddNumberToObject(o, "nodes", (double)coll_count(st, COLL_NODES));
	cJSON_AddNumberToObject(o, "vectors", (double)vecindex_count(state_vectors(st)));
	cJSON_AddNumberToObject(o, "docs_not_indexed", (double)count_unindexed(st));
	cJSON_AddNumberToObject(o, "dim", state_dim(st));
	cJSON_AddStringToObject(o, "embedder", s->emb->name);
	store_read_end(s);
	size_t pending, failed;
	int last_err;
	store_embed_status(s, &pending, &failed, &last_err);
	cJSON_AddNumberToObject(o, "pending", (double)pending);
	cJSON_AddNumberToObject(o, "failed", (double)failed);
	cJSON_AddNumberToObject(o, "embedded_in_background",
				(double)__atomic_load_n(&s->eq.embedded, __ATOMIC_RELAXED));
	if (last_err)
		cJSON_AddStringToObject(o, "last_embed_error", strerrorname_np(-last_err) ?: "E?");
	else
		cJSON_AddNullToObject(o, "last_embed_error");
	store_reembed_status(s, o);
	cJSON_AddItemToObject(o, "ann", ann_status(s->ann)); /* the HNSW graph */
	cJSON_AddStringToObject(o, "store", s->opts.store);
	cJSON_AddStringToObject(o, "backend", s->be->ops->name);
	cJSON_AddBoolToObject(o, "read_only", s->opts.read_only);
	cJSON_AddNumberToObject(o, "journal_bytes", (double)journal_pending_bytes(s->jn));
	pthread_mutex_lock(&s->flush_lock);
	cJSON_AddNumberToObject(o, "segments", (double)s->man.nsegs);
	cJSON_AddNumberToObject(o, "generation", (double)s->man.generation);
	pthread_mutex_unlock(&s->flush_lock);
	add_time(o, "mounted", s->mounted_ns);
	add_time(o, "last_flush", __atomic_load_n(&s->last_flush_ns, __ATOMIC_RELAXED));
	unsigned long nerr = errlog_count(s->errs, last, sizeof(last));
	cJSON_AddNumberToObject(o, "errors", (double)nerr);
	if (nerr)
		cJSON_AddStringToObject(o, "last_error", last);
	else
		cJSON_AddNullToObject(o, "last_error");
	return print_free(o, out);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static cJSON *latency(struct lat_ring *r)
{
	cJSON *o = cJSON_CreateObject();
	double sorted[LAT_KEEP];
	pthread_mutex_lock(&r->lock);
	uint64_t total = r->n;
	size_t n = total < LAT_KEEP ? (size_t)total : LAT_KEEP;
	memcpy(sorted, r->ms, n * sizeof(double));
	pthread_mutex_unlock(&r->lock);
	qsort(sorted, n, sizeof(double), cmp_double);
	cJSON_AddNumberToObject(o, "count", (double)total);
	static const struct {
		const char *name;
		double q;
	} qs[] = { { "p50_ms", 0.5 }, { "p90_ms", 0.9 }, { "p99_ms", 0.99 }, { "max_ms", 1 } };
	for (size_t i = 0; i < 4; i++) {
		if (!n) {
			cJSON_AddNullToObject(o, qs[i].name);
			continue;
		}
		size_t k = (size_t)(qs[i].q * (double)(n - 1) + 0.5);
		cJSON_AddNumberToObject(o, qs[i].name, (double)(long)(sorted[k] * 1000) / 1000);
	}
	return o;
}

#define ADD_U64(o, name, v) \
	cJSON_AddNumberToObject(o, name, (double)__atomic_load_n(&(v), __ATOMIC_RELAXED))

int store_render_stats(struct store *s, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *ops = cJSON_AddObjectToObject(o, "operations");
	ADD_U64(ops, "ingests", s->ingests);
	ADD_U64(ops, "ingests_unchanged", s->ingest_skips);
	ADD_U64(ops, "ingest_bytes", s->ingest_bytes);
	ADD_U64(ops, "deletes", s->deletes);
	ADD_U64(ops, "renames", s->renames);
	ADD_U64(ops, "nodes_written", s->nodes_written);
	ADD_U64(ops, "query_errors", s->query_errors);
	ADD_U64(ops, "refused_writes", s->refused);
	ADD_U64(ops, "flushes", s->flushes);
	ADD_U64(ops, "flush_errors", s->flush_errors);
	ADD_U64(ops, "compactions", s->compactions);
	ADD_U64(ops, "replayed_ops", s->replayed_ops);
	cJSON *lat = cJSON_AddObjectToObject(o, "latency");
	cJSON_AddItemToObject(lat, "query", latency(&s->lat_query));
	cJSON_AddItemToObject(lat, "ingest", latency(&s->lat_ingest));
	cJSON_AddItemToObject(lat, "flush", latency(&s->lat_flush));
	cJSON *be = cJSON_AddObjectToObject(o, "backend");
	struct backend_stats *bs = &s->be->stats;
	cJSON_AddStringToObject(be, "kind", s->be->ops->name);
	ADD_U64(be, "get", bs->gets);
	ADD_U64(be, "head", bs->heads);
	ADD_U64(be, "put", bs->puts);
	ADD_U64(be, "delete", bs->dels);
	ADD_U64(be, "list", bs->lists);
	ADD_U64(be, "errors", bs->errors);
	ADD_U64(be, "http_requests", bs->http_requests);
	ADD_U64(be, "retries", bs->retries);
	ADD_U64(be, "bytes_in", bs->bytes_in);
	ADD_U64(be, "bytes_out", bs->bytes_out);
	cJSON *cache = cJSON_AddObjectToObject(o, "cache");
	/* The whole image is in memory: every read after mount is a hit. The
	 * segment cache (s3/r2) spares the GETs of a remount or a merge. */
	cJSON_AddStringToObject(cache, "mode", "memory");
	if (s->segs) {
		struct segcache_stats sc;
		segcache_stats(s->segs, &sc);
		cJSON *seg = cJSON_AddObjectToObject(cache, "segments");
		ADD_U64(seg, "hits", sc.hits);
		ADD_U64(seg, "misses", sc.misses);
		ADD_U64(seg, "files", sc.files);
		ADD_U64(seg, "bytes", sc.bytes);
		ADD_U64(seg, "evictions", sc.evictions);
	}
	/* The search kernels' counters (process-wide: one daemon, one store). */
	struct vecbatch_stats vb;
	struct vecquant_stats vq;
	vecbatch_get_stats(&vb);
	vecquant_get_stats(&vq);
	cJSON *se = cJSON_AddObjectToObject(o, "search");
	ADD_U64(se, "vector_searches", vb.searches);
	ADD_U64(se, "coalesced_batches", vb.batches);
	ADD_U64(se, "coalesced_queries", vb.batched);
	ADD_U64(se, "largest_batch", vb.max_batch);
	ADD_U64(se, "compressed_searches", vq.searches);
	ADD_U64(se, "compressed_second_passes", vq.second_pass);
	return print_free(o, out);
}

int store_render_config(struct store *s, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "store", s->opts.store);
	cJSON_AddStringToObject(o, "cache_dir", s->cache_dir);
	cJSON_AddStringToObject(o, "embed", s->opts.embed);
	cJSON_AddNumberToObject(o, "dim", store_dim(s));
	cJSON_AddNumberToObject(o, "chunk_size", (double)s->opts.chunk_size);
	cJSON_AddNumberToObject(o, "chunk_overlap", (double)s->opts.chunk_overlap);
	cJSON_AddNumberToObject(o, "top_k", (double)s->opts.top_k);
	cJSON_AddNumberToObject(o, "flush_interval", s->opts.flush_interval);
	cJSON_AddStringToObject(o, "vec_compress", vec_compress_name(s->vec_compress));
	const struct store_opts *so = &s->opts; /* the HNSW graph's options, defaults filled */
	cJSON_AddNumberToObject(o, "ann_threshold",
				(double)(so->ann_threshold ? so->ann_threshold : ANN_DEFAULT_THRESHOLD));
	cJSON_AddNumberToObject(o, "ann_m", so->ann_m ? so->ann_m : HNSW_DEFAULT_M);
	cJSON_AddNumberToObject(o, "ann_ef_construction", so->ann_ef_construction ?
				so->ann_ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION);
	cJSON_AddNumberToObject(o, "ann_ef", so->ann_ef ? so->ann_ef : ANN_DEFAULT_EF);
	cJSON_AddBoolToObject(o, "ro", s->opts.read_only);
	store_read_begin(s); /* s->man is replaced under the write lock */
	cJSON_AddStringToObject(o, "store_id", s->man.store_id);
	cJSON_AddStringToObject(o, "index_id", store_index_id(s));
	store_read_end(s);
	cJSON_AddStringToObject(o, "layout", "ragfs-store v1");
	return print_free(o, out);
}

int store_render_default_index(struct store *s, const struct state *st, struct buf *out)
{
	/* LlamaIndex kvstore form: {"__type__": "vector_store", "__data__": "<json>"}
	 * with IndexDict fields in dataclass order. */
	struct vecindex *vi = state_vectors(st);
	struct buf data = BUF_INIT;
	int rc = buf_adds(&data, "{\"index_id\": ");
	rc = rc ? rc : json_str_out(store_index_id(s), &data);
	rc = rc ? rc : buf_adds(&data, ", \"summary\": null, \"nodes_dict\": {");
	size_t n = vecindex_count(vi);
	for (size_t i = 0; i < n && !rc; i++) {
		const char *id = vecindex_id(vi, i);
		rc = i ? buf_adds(&data, ", ") : 0;
		rc = rc ? rc : json_str_out(id, &data);
		rc = rc ? rc : buf_adds(&data, ": ");
		rc = rc ? rc : json_str_out(id, &data);
	}
	if (!rc)
		rc = buf_adds(&data, "}, \"doc_id_dict\": {}, \"embeddings_dict\": {}}");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "__type__", "vector_store");
	cJSON_AddStringToObject(o, "__data__", data.data ? data.data : "");
	buf_release(&data);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	return print_free(o, out);
}
