//! Row-level security tests: a tenant-scoped connection cannot read or write another tenant's rows, through raw SQL or the store API.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_isolates_tenants_whatever_the_query() {
    let (admin, schema) = fresh("ops_rls").await;
    append_patient(&admin, "ta", 2, &ctx("tenant-a", "c")).await;
    append_patient(&admin, "tb", 3, &ctx("tenant-b", "c")).await;
    let url = carebus_tests::database_url();
    let pool_a = connect_tenant(&url, Some(&schema), "tenant-a", 2)
        .await
        .unwrap();
    let scalar = |sql: &'static str| {
        let pool = pool_a.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    assert_eq!(scalar("SELECT count(*) FROM events").await, 3);
    assert_eq!(
        scalar("SELECT count(*) FROM events WHERE tenant_id = 'tenant-b'").await,
        0
    );
    assert_eq!(
        scalar("SELECT count(*) FROM events WHERE true OR tenant_id <> 'x'").await,
        3
    );
    assert_eq!(scalar("SELECT count(*) FROM streams").await, 1);
    assert_eq!(
        scalar("SELECT count(*) FROM (SELECT * FROM events UNION ALL SELECT * FROM events) u")
            .await,
        6
    );
    assert_eq!(
        scalar("SELECT count(*) FROM events e JOIN streams s USING (stream_id) WHERE s.tenant_id = 'tenant-b'").await,
        0
    );
    let updated = sqlx::query("UPDATE events SET data_json = NULL WHERE tenant_id = 'tenant-b'")
        .execute(&pool_a)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    // Moving its own row to another tenant is refused by the policy's check.
    let moved =
        sqlx::query("UPDATE events SET tenant_id = 'tenant-b' WHERE tenant_id = 'tenant-a'")
            .execute(&pool_a)
            .await;
    assert!(moved.is_err(), "an update into another tenant must fail");
    assert!(
        sqlx::query("DELETE FROM events")
            .execute(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("SELECT * FROM subject_keys")
            .fetch_all(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("SELECT * FROM checkpoints")
            .fetch_all(&pool_a)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("TRUNCATE events")
            .execute(&pool_a)
            .await
            .is_err()
    );
    let forged = sqlx::query(
        "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
         event_version, data_format, data, tenant_id, event_time) \
         VALUES (gen_random_uuid(), 'Patient-tb', 99, 'Patient', 'X', 1, 'avro', '\\x00', 'tenant-b', now())",
    )
    .execute(&pool_a)
    .await;
    assert!(forged.is_err(), "writing a row of another tenant must fail");

    // The store API on a tenant pool: reads see only the tenant, appends for others fail.
    let store_a = tenant_store(&url, Some(&schema), "tenant-a", 2)
        .await
        .unwrap();
    let seen = settled(&store_a, 3).await;
    assert!(
        seen.iter()
            .all(|e| e.context.tenant_id.as_deref() == Some("tenant-a"))
    );
    assert!(
        store_a
            .read_stream("Patient-tb", 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
    append_patient(&store_a, "ta2", 0, &ctx("tenant-a", "c")).await;
    let other = store_a
        .append(
            "Patient-tb2",
            ExpectedVersion::Any,
            patient_events("tb2", 0, &ctx("tenant-b", "c")),
        )
        .await;
    assert!(
        other.is_err(),
        "a tenant-a connection cannot append tenant-b events"
    );
    // Appending to another tenant's existing stream cannot move its version either.
    let hijack = store_a
        .append(
            "Patient-tb",
            ExpectedVersion::Exact(4),
            patient_events("tb", 0, &ctx("tenant-a", "c")),
        )
        .await;
    assert!(hijack.is_err());
    let page = query(
        store_a.pool(),
        &EventQuery {
            filter: EventFilter::all().tenant("tenant-b"),
            ..EventQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(page.events.is_empty());
    let groups = stats(store_a.pool(), &EventFilter::all(), GroupBy::Tenant, true)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key.as_deref(), Some("tenant-a"));
    assert_eq!(groups[0].count, 4);
    // The admin still sees both, unchanged.
    settled(&admin, 8).await;
    assert_eq!(admin.stream_version("Patient-tb").await.unwrap(), Some(4));
}
