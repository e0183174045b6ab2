// Scenario suite through the real path (incidents rooted at a broker: read from its JMX, its JVM, its silence, or only its clients): each incident of
// demo/incidents.ts played as `kafka-obs demo --incident <name>` plays it — scripted JVMs under
// Kafka's real MBean names, a real `kafka-obs agent` reading each over JMX, a real aggregator, a
// subscriber — and held to what a user must read: exactly one narrative per incident with the
// right root entity and words, a causal chain in causal order, resolution after recovery;
// silence on an idle estate. Prints, per incident, the time from its first causal change to the
// narrative at the subscriber and how many narratives and findings it produced.
import { incidentSuite } from './support/incidents.js';

incidentSuite('incidents rooted at a broker: read from its JMX, its JVM, its silence, or only its clients', ['cascade', 'broker-gc', 'frozen-broker', 'managed-kafka']);
