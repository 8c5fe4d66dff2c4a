//! Query API tests: filters, cursor pages both ways, counts; the HTTP endpoint (with a bearer token, as a non-superuser role) serving them and refusing hostile input.

use super::query_auth::{Endpoint, token};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_filters_pages_both_ways_and_counts() {
    let (store, _) = fresh("ops_query").await;
    append_patient(&store, "a1", 4, &ctx("hospital-a", "corr-1")).await;
    append_patient(&store, "a2", 2, &ctx("hospital-a", "corr-2")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    append_patient(&store, "b1", 3, &ctx("hospital-b", "corr-1")).await;

    let everything = settled(&store, 12).await;
    let count = |f: EventFilter| {
        let store = store.clone();
        async move {
            let q = EventQuery {
                filter: f,
                limit: 1000,
                ..EventQuery::default()
            };
            query(store.pool(), &q).await.unwrap().events
        }
    };
    let by_stream = count(EventFilter::all().stream("Patient-a1")).await;
    assert_eq!(by_stream.len(), 5);
    assert!(by_stream.iter().all(|e| e.stream_id == "Patient-a1"));
    assert_eq!(
        count(EventFilter::all().aggregate_type("Patient"))
            .await
            .len(),
        12
    );
    assert_eq!(
        count(EventFilter::all().aggregate_type("Visit"))
            .await
            .len(),
        0
    );
    let created_only = count(EventFilter::all().event_type("PatientCreated")).await;
    assert_eq!(created_only.len(), 3);
    assert_eq!(
        count(EventFilter::all().tenant("hospital-b")).await.len(),
        4
    );
    let corr = count(EventFilter::all().correlation("corr-1")).await;
    assert_eq!(corr.len(), 9);
    let late = count(EventFilter::all().recorded_between(Some(between), None)).await;
    assert_eq!(late.len(), 4);
    assert!(late.iter().all(|e| e.stream_id == "Patient-b1"));
    let early = count(EventFilter::all().recorded_between(None, Some(between))).await;
    assert_eq!(early.len(), 8);
    let combined = count(
        EventFilter::all()
            .tenant("hospital-a")
            .correlation("corr-1")
            .event_type("PatientUpdated"),
    )
    .await;
    assert_eq!(combined.len(), 4);

    // Forward pages of 5 see every event once, in position order.
    let positions: Vec<i64> = everything.iter().map(|e| e.global_position).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    let q = EventQuery {
        limit: 5,
        ..EventQuery::default()
    };
    assert_eq!(all_pages(&store, q.clone()).await, sorted);

    // Backward pages (newest first) are the reverse.
    let back = EventQuery {
        limit: 5,
        direction: Direction::Backward,
        ..EventQuery::default()
    };
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(all_pages(&store, back.clone()).await, reversed);

    // Stable under concurrent appends: pages already handed out never change, and paging on
    // reaches the old events once plus the new ones.
    let first = query(store.pool(), &q).await.unwrap();
    append_patient(&store, "c1", 2, &ctx("hospital-a", "corr-3")).await;
    let rest = all_pages(
        &store,
        EventQuery {
            cursor: first.next,
            ..q.clone()
        },
    )
    .await;
    let mut seen: Vec<i64> = first.events.iter().map(|e| e.global_position).collect();
    seen.extend(rest);
    assert_eq!(seen.len(), 15, "12 old + 3 new, none twice");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 15);
    assert_eq!(&seen[..12], &sorted[..]);

    // `prev` of a forward page goes back to the page before it.
    let second = query(
        store.pool(),
        &EventQuery {
            cursor: first.next,
            ..q.clone()
        },
    )
    .await
    .unwrap();
    let before = query(
        store.pool(),
        &EventQuery {
            cursor: second.prev,
            direction: Direction::Backward,
            ..q.clone()
        },
    )
    .await
    .unwrap();
    let mut back_again: Vec<i64> = before.events.iter().map(|e| e.global_position).collect();
    back_again.reverse();
    assert_eq!(
        back_again,
        first
            .events
            .iter()
            .map(|e| e.global_position)
            .collect::<Vec<_>>()
    );
    // The opaque cursor round-trips.
    let c = second.prev.unwrap();
    assert_eq!(PageCursor::decode("after", &c.encode()).unwrap(), c);

    // Aggregations.
    let by_type = stats(store.pool(), &EventFilter::all(), GroupBy::EventType, false)
        .await
        .unwrap();
    let m: BTreeMap<_, _> = by_type
        .iter()
        .map(|g| (g.key.clone().unwrap(), g.count))
        .collect();
    assert_eq!(m["PatientCreated"], 4);
    assert_eq!(m["PatientUpdated"], 11);
    let by_tenant = stats(store.pool(), &EventFilter::all(), GroupBy::Tenant, false)
        .await
        .unwrap();
    let m: BTreeMap<_, _> = by_tenant
        .iter()
        .map(|g| (g.key.clone().unwrap(), g.count))
        .collect();
    assert_eq!(m["hospital-a"], 11);
    assert_eq!(m["hospital-b"], 4);
    let by_day = stats(
        store.pool(),
        &EventFilter::all().tenant("hospital-b"),
        GroupBy::Day,
        false,
    )
    .await
    .unwrap();
    let today = Timestamp::now().to_string()[..10].to_string();
    let total: u64 = by_day.iter().map(|g| g.count).sum();
    assert_eq!(total, 4);
    assert!(
        by_day
            .iter()
            .any(|g| g.key.as_deref() == Some(today.as_str())),
        "{by_day:?} has today ({today})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_serves_pages_and_stats_and_refuses_hostile_input() {
    let (store, schema) = fresh("ops_http").await;
    append_patient(&store, "h1", 3, &ctx("hospital-a", "corr-h")).await;
    append_patient(&store, "h2", 1, &ctx("hospital-b", "corr-h")).await;
    let endpoint = Endpoint::start(&store, &schema).await;
    let addr = endpoint.addr;
    let token = token("analyst-1", "hospital-a", "events:read phi:read");
    let http_get = |addr, target: &[u8]| {
        let target = target.to_vec();
        let token = token.clone();
        async move {
            let (status, _, body) = super::query_auth::http_get(addr, &target, Some(&token)).await;
            (status, body)
        }
    };

    let (status, body) = http_get(addr, b"/events?limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(body["events"][0]["streamId"], "Patient-h1");
    assert_eq!(body["events"][0]["data"]["patientId"], "h1");
    let next = body["next"].as_str().unwrap().to_string();
    let (status, body) = http_get(addr, format!("/events?limit=2&after={next}").as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert!(body["next"].is_null(), "4 events, 2 pages");
    let (status, body) = http_get(addr, b"/events?order=desc&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["events"][0]["streamId"], "Patient-h1",
        "hospital-a's newest"
    );
    let (status, body) = http_get(addr, b"/events/stats?group_by=tenant").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["groups"],
        json!([{"key": "hospital-a", "count": 4}]),
        "the token's tenant only"
    );
    let (status, body) = http_get(
        addr,
        b"/events/stats?group_by=type&event_type=PatientCreated",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["groups"],
        json!([{"key": "PatientCreated", "count": 1}])
    );

    // Hostile but well-formed values are plain data: no match, no effect.
    for target in [
        &b"/events?stream=%27%20OR%201%3D1%20--"[..],
        b"/events?stream=x%27%3B%20DROP%20TABLE%20events%3B%20--",
        b"/events?event_type=PatientCreated%27)%20OR%20(%271%27%3D%271",
        b"/events?correlation_id=%5C%27%3B%20SELECT%20pg_sleep(10)%3B",
        b"/events?aggregate_type=Patient%22%20UNION%20SELECT%201",
    ] {
        let (status, body) = http_get(addr, target).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(target));
        assert_eq!(
            body["events"],
            json!([]),
            "{}",
            String::from_utf8_lossy(target)
        );
    }
    // Malformed values are refused with 400 and a message naming the parameter.
    for (target, param) in [
        (&b"/events?limit=999999999999999999999999999"[..], "limit"),
        (b"/events?limit=0", "limit"),
        (b"/events?limit=-5", "limit"),
        (b"/events?limit=1001", "limit"),
        (b"/events?from=99999999999999999", "from"),
        (b"/events?from=2024-13-45T99:00:00Z", "from"),
        (b"/events?until=%27%3B--", "until"),
        (b"/events?after=not-a-cursor", "after"),
        (b"/events?after=__________8", "after"),
        (
            b"/events?before=%2F%2F%2F%2F%2F%2F%2F%2F%2F%2F%2F",
            "before",
        ),
        (b"/events?stream=%FF%FE", "stream"),
        (b"/events?stream=a%00b", "stream"),
        (b"/events?tenant=hospital-a", "tenant"),
        (b"/events?stream=%zz", "stream"),
        (b"/events?stream=", "stream"),
        (b"/events?stream=a&stream=b", "stream"),
        (b"/events?where=1", "where"),
        (b"/events?include_archived=yes", "include_archived"),
        (b"/events/stats?group_by=event_type%3B", "group_by"),
        (b"/events/stats", "group_by"),
    ] {
        let (status, body) = http_get(addr, target).await;
        let shown = String::from_utf8_lossy(target);
        assert_eq!(status, 400, "{shown}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(param), "{shown}: {message}");
    }
    let long = format!("/events?stream={}", "x".repeat(600));
    assert_eq!(http_get(addr, long.as_bytes()).await.0, 400);
    // Raw invalid UTF-8 in the request target never reaches a query.
    let (status, _) = http_get(addr, b"/events?stream=\xff\xfe").await;
    assert_eq!(status, 400);

    // Nothing was dropped or changed.
    settled(&store, 6).await;
    endpoint.stop().await;
}
