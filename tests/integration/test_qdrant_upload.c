/* qdrant_points_upload against Qdrant (QDRANT_TEST_URL) or the loopback test server. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "qdrant/qdrant.h"
#include "servers.h"
#include "tap.h"

enum { N = 3000, DIM = 64 };

static int on_progress(const qdrant_upload_progress *p, void *ud)
{
    *(qdrant_upload_progress *)ud = *p;
    return 0;
}

int main(void)
{
    const char *url = ts_qdrant_url();
    if (!url)
        skip_all("no Qdrant server");
    qdrant_client_options co = QDRANT_CLIENT_OPTIONS_INIT;
    co.url = url;
    co.api_key = getenv("QDRANT_TEST_API_KEY");
    qdrant_client *c = NULL;
    is_int(qdrant_client_new(&c, &co), 0, "client");
    char name[96];
    ts_unique("upload", name, sizeof name);
    qdrant_collection_options opts = QDRANT_COLLECTION_OPTIONS_INIT;
    is_int(qdrant_collection_create(c, name, DIM, QDRANT_DISTANCE_DOT, &opts), 0, "collection");
    static qdrant_point_id ids[N];
    static float v[N * DIM];
    static char pbuf[N][48];
    static const char *payloads[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        ids[i] = qdrant_point_id_num((uint64_t)i * 7919u + 1);
        for (int k = 0; k < DIM; k++)
            v[i * DIM + k] = (float)rand() / (float)RAND_MAX - 0.5f;
        snprintf(pbuf[i], sizeof pbuf[i], "{\"doc\":\"d%d\",\"n\":%d}", i / 10, i);
        payloads[i] = pbuf[i];
    }
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 128;
    o.parallel = 3;
    qdrant_upload_progress last = {0};
    o.progress = on_progress;
    o.progress_userdata = &last;
    qdrant_upload_result *r = NULL;
    is_int(qdrant_points_upload(&r, c, name, N, ids, v, DIM, payloads, &o), 0,
           "upload 3000 points");
    is_int(qdrant_upload_result_failed_count(r), 0, "none failed");
    qdrant_upload_result_free(r);
    is_int(last.points_done, N, "progress reached the total");
    is_int(last.batches_done, (N + 127) / 128, "every batch reported");
    uint64_t count = 0;
    is_int(qdrant_points_count(&count, c, name, NULL), 0, "count");
    is_int(count, N, "the collection holds exactly the uploaded points");
    /* Uploading again (idempotent) does not duplicate. */
    is_int(qdrant_points_upload(NULL, c, name, N, ids, v, DIM, payloads, &o), 0, "upload again");
    qdrant_points_count(&count, c, name, NULL);
    is_int(count, N, "still exactly N points");
    /* A point's own vector finds it first under Dot among nearby points is not guaranteed; use
     * get to check the stored payload and vector round-trip exactly. */
    qdrant_point_list *got = NULL;
    qdrant_point_id one = ids[1234];
    is_int(qdrant_points_get(&got, c, name, &one, 1, 1, 1), 0, "get one");
    if (got && qdrant_point_list_count(got) == 1) {
        is_str(qdrant_point_list_payload(got, 0), "{\"doc\":\"d123\",\"n\":1234}",
               "payload stored");
        size_t d = 0;
        const float *gv = qdrant_point_list_vector(got, 0, &d);
        int same = gv && d == DIM;
        for (int k = 0; same && k < DIM; k++)
            same = gv[k] == v[1234 * DIM + k];
        ok(same, "vector round-trips bit for bit (shortest float text)");
    } else {
        ok(0, "payload stored");
        ok(0, "vector round-trips");
    }
    qdrant_point_list_free(got);
    /* Wrong dimension: every point reported failed, with the server's reason. */
    static float wrong[10 * (DIM + 1)];
    r = NULL;
    int rc = qdrant_points_upload(&r, c, name, 10, ids, wrong, DIM + 1, NULL, &o);
    ok(rc == QDRANT_EINVAL, "wrong dimension refused by the server");
    is_int(qdrant_upload_result_failed_count(r), 10, "all 10 points reported");
    diag("%s", qdrant_upload_result_failed_message(r, 0));
    qdrant_upload_result_free(r);
    int existed = 0;
    qdrant_collection_delete(&existed, c, name);
    qdrant_client_free(c);
    return tap_done();
}
