//! A Kafka reader for the delivery bench: reads every partition of a topic from the beginning
//! and writes the running count of messages to a file (as `bench_receiver` does for HTTP).
//! Usage: `kafka_counter BOOTSTRAP TOPIC PARTITIONS COUNT_FILE`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, partitions, count_file] = args.as_slice() else {
        eprintln!("usage: kafka_counter BOOTSTRAP TOPIC PARTITIONS COUNT_FILE");
        std::process::exit(2);
    };
    let partitions: i32 = partitions.parse().unwrap_or(1);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "auditship-bench-counter")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&assignment).expect("assigned");
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
