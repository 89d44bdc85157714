//! A Kafka reader for the delivery bench: reads every partition of a topic from the beginning
//! and writes the running count of messages to a file (as `bench_receiver` does for HTTP).
//! Usage: `kafka_counter BOOTSTRAP TOPIC PARTITIONS COUNT_FILE [GROUP]`; with GROUP it reads as a
//! member of that consumer group (subscribed, from the earliest offset), the way the `kafka`
//! source reads: the bench's baseline for the source.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bootstrap, topic, partitions, count_file, group) = match args.as_slice() {
        [servers, topic, partitions, file] => (servers, topic, partitions, file, None),
        [servers, topic, partitions, file, group] => {
            (servers, topic, partitions, file, Some(group))
        }
        _ => {
            eprintln!("usage: kafka_counter BOOTSTRAP TOPIC PARTITIONS COUNT_FILE [GROUP]");
            std::process::exit(2);
        }
    };
    let partitions: i32 = partitions.parse().unwrap_or(1);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            group.map_or("auditship-bench-counter", String::as_str),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a consumer");
    if group.is_some() {
        consumer.subscribe(&[topic.as_str()]).expect("subscribed");
    } else {
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("a partition");
        }
        consumer.assign(&assignment).expect("assigned");
    }
    let mut count = 0u64;
    let mut written = Instant::now();
    loop {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(20)) {
            count += 1;
        }
        if written.elapsed() >= Duration::from_millis(50) {
            let _ = std::fs::write(count_file, count.to_string());
            written = Instant::now();
        }
    }
}
