// The JMX bridge: one small JVM per JMX target, started and kept alive by the kafka-obs agent.
// JDK only (javax.management.remote), so it runs wherever a JRE is. It speaks JSON lines:
//
//   stdin, first line   {"url":"service:jmx:rmi:///jndi/rmi://host:9999/jmxrmi","username":"u",
//                        "password":"p","registrySsl":false,"truststore":"/path","truststorePassword":"x",
//                        "timeoutMs":5000,"intervalMs":10000}
//   stdout              {"ready":true,"pid":1234,"java":"17.0.15"}
//   stdin, then         {"id":1,"op":"poll","queries":[{"pattern":"java.lang:type=Memory",
//                        "attributes":["HeapMemoryUsage.used","HeapMemoryUsage.max"]}]}
//                       ("attributes" empty or absent: every attribute; "namesOnly":true: no values)
//   stdout              {"id":1,"ok":true,"tookMs":1.2,"connected":false,"results":[{"beans":[
//                        {"name":"java.lang:type=Memory","props":{"type":"Memory"},
//                         "values":{"HeapMemoryUsage.used":1.0E7,...},"errors":{}}]}]}
//                   or  {"id":1,"ok":false,"error":{"kind":"auth","message":"..."}}
//
// Credentials come over stdin, never on the command line (they would show in `ps`). Errors are
// data: a failed connection is an answer with a kind (unreachable, auth, ssl, timeout, bad-url,
// not-found, io), never a crash. A connection that breaks (the target restarted) is reopened on
// the same request, once. When stdin closes (the agent is gone) the bridge exits.
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.MalformedURLException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.InstanceNotFoundException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanServerConnection;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import javax.rmi.ssl.SslRMIClientSocketFactory;

public final class JmxBridge {
  private final PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), false);
  private JMXServiceURL url;
  private final Map<String, Object> env = new HashMap<>();
  private JMXConnector connector;
  private MBeanServerConnection conn;
  /** Attribute names per bean, for queries that ask for every attribute. */
  private final Map<ObjectName, String[]> attributeNames = new HashMap<>();

  public static void main(String[] args) throws IOException {
    new JmxBridge().run();
  }

  private void run() throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String first = in.readLine();
    if (first == null) return;
    try {
      configure(Json.object(Json.parse(first)));
    } catch (RuntimeException | MalformedURLException e) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("ready", false);
      r.put("error", error("bad-url", e.getMessage()));
      send(r);
      return;
    }
    Map<String, Object> ready = new LinkedHashMap<>();
    ready.put("ready", true);
    ready.put("pid", ProcessHandle.current().pid());
    ready.put("java", System.getProperty("java.version"));
    send(ready);
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isBlank()) continue;
      Object id = null;
      Map<String, Object> reply;
      try {
        Map<String, Object> req = Json.object(Json.parse(line));
        id = req.get("id");
        String op = String.valueOf(req.get("op"));
        if ("poll".equals(op)) reply = poll(Json.array(req.get("queries")));
        else if ("ping".equals(op)) {
          reply = new LinkedHashMap<>();
          reply.put("ok", true);
          reply.put("heapUsed", ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        } else if ("close".equals(op)) {
          disconnect();
          reply = new LinkedHashMap<>();
          reply.put("ok", true);
        } else {
          reply = failure("bad-request", "unknown op \"" + op + "\" (expected poll, ping, close)");
        }
      } catch (RuntimeException e) {
        reply = failure("bad-request", "cannot read request: " + e.getMessage());
      }
      Map<String, Object> withId = new LinkedHashMap<>();
      withId.put("id", id);
      withId.putAll(reply);
      send(withId);
    }
    disconnect();
  }

  private void configure(Map<String, Object> c) throws MalformedURLException {
    url = new JMXServiceURL(toServiceUrl(String.valueOf(c.get("url"))));
    Object user = c.get("username");
    if (user != null) {
      Object pass = c.get("password");
      env.put(JMXConnector.CREDENTIALS, new String[] {String.valueOf(user), pass == null ? "" : String.valueOf(pass)});
    }
    if (c.get("truststore") != null) System.setProperty("javax.net.ssl.trustStore", String.valueOf(c.get("truststore")));
    if (c.get("truststorePassword") != null) System.setProperty("javax.net.ssl.trustStorePassword", String.valueOf(c.get("truststorePassword")));
    if (c.get("truststoreType") != null) System.setProperty("javax.net.ssl.trustStoreType", String.valueOf(c.get("truststoreType")));
    if (Boolean.TRUE.equals(c.get("registrySsl"))) {
      // The RMI registry itself over TLS (com.sun.management.jmxremote.registry.ssl=true). A
      // connector over TLS needs nothing here: the remote reference it hands out names the SSL
      // socket factory; the truststore above decides whom to trust.
      env.put("com.sun.jndi.rmi.factory.socket", new SslRMIClientSocketFactory());
    }
    long timeoutMs = c.get("timeoutMs") instanceof Number ? ((Number) c.get("timeoutMs")).longValue() : 5000;
    System.setProperty("sun.rmi.transport.tcp.responseTimeout", String.valueOf(timeoutMs));
    System.setProperty("sun.rmi.transport.proxy.connectTimeout", String.valueOf(timeoutMs));
    // Not a timeout: how long an idle connection is kept for reuse. Longer than the poll interval,
    // or every poll opens its connections afresh (and the target a thread for each).
    long intervalMs = c.get("intervalMs") instanceof Number ? ((Number) c.get("intervalMs")).longValue() : 0;
    System.setProperty("sun.rmi.transport.connectionTimeout", String.valueOf(Math.max(15_000, 3 * intervalMs)));
    env.put("jmx.remote.x.client.connection.check.period", 0L);
  }

  /** host:port is short for the usual RMI registry URL. */
  static String toServiceUrl(String s) {
    if (s.startsWith("service:jmx:")) return s;
    if (s.matches("^[A-Za-z0-9.\\-]+:\\d+$") || s.matches("^\\[[0-9a-fA-F:]+\\]:\\d+$")) return "service:jmx:rmi:///jndi/rmi://" + s + "/jmxrmi";
    throw new IllegalArgumentException("not a JMX URL: \"" + s + "\" (expected service:jmx:rmi:///jndi/rmi://host:port/jmxrmi or host:port)");
  }

  private Map<String, Object> poll(List<Object> queries) {
    long t0 = System.nanoTime();
    boolean connectedNow = false;
    List<Object> results = null;
    Exception failed = null;
    for (int attempt = 0; attempt < 2 && results == null; attempt++) {
      boolean hadConnection = conn != null;
      try {
        if (!hadConnection) {
          connect();
          connectedNow = true;
        }
        results = read(queries);
      } catch (IOException | SecurityException e) {
        failed = e;
        disconnect();
        // A broken connection (the target restarted) gets one fresh try; a failed connect does not.
        if (!hadConnection) break;
      }
    }
    if (results == null) {
      Map<String, Object> r = failure(kindOf(failed), describe(failed));
      r.put("tookMs", (System.nanoTime() - t0) / 1e6);
      return r;
    }
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("ok", true);
    r.put("tookMs", (System.nanoTime() - t0) / 1e6);
    r.put("connected", connectedNow);
    r.put("results", results);
    return r;
  }

  private void connect() throws IOException {
    connector = JMXConnectorFactory.connect(url, env);
    conn = connector.getMBeanServerConnection();
    attributeNames.clear();
    matched.clear();
    matchedCount = -1;
  }

  private void disconnect() {
    if (connector != null) {
      try {
        connector.close();
      } catch (IOException | RuntimeException ignored) {
        // Closing a dead connection fails; it is gone either way.
      }
    }
    connector = null;
    conn = null;
  }

  /** What each pattern matched when last asked, the target's MBean count then, and when. */
  private final Map<ObjectName, List<ObjectName>> matched = new HashMap<>();
  private int matchedCount = -1;
  private long matchedAt;
  /**
   * The names are asked again at least this often even when the MBean count has not moved (one
   * bean unregistered while another registered between two polls, outside what we read).
   */
  private static final long RECHECK_NANOS = 30_000_000_000L;

  /**
   * A poll is one wave of remote calls, issued from a few threads at once (RMI opens a connection
   * per concurrent call), so a JVM with many clients is read in a few round trips' time rather
   * than one after another. The beans each pattern matched last time are read straight away,
   * alongside one getMBeanCount: only when the count moved, a bean vanished or the names are old
   * are the patterns queried again (in the same poll, whose new beans are then read too). That
   * spares the target one queryNames per pattern per poll, and the poll its second round.
   */
  private List<Object> read(List<Object> queries) throws IOException {
    int n = queries.size();
    List<Map<String, Object>> results = new ArrayList<>();
    ObjectName[] patterns = new ObjectName[n];
    List<List<Object>> wanted = new ArrayList<>();
    boolean[] namesOnly = new boolean[n];
    for (int i = 0; i < n; i++) {
      Map<String, Object> query = Json.object(queries.get(i));
      Map<String, Object> result = new LinkedHashMap<>();
      results.add(result);
      wanted.add(query.get("attributes") == null ? List.of() : Json.array(query.get("attributes")));
      namesOnly[i] = Boolean.TRUE.equals(query.get("namesOnly"));
      try {
        patterns[i] = new ObjectName(String.valueOf(query.get("pattern")));
      } catch (MalformedObjectNameException e) {
        result.put("error", "malformed ObjectName pattern \"" + query.get("pattern") + "\": " + e.getMessage());
      }
    }
    boolean known = matchedCount >= 0 && System.nanoTime() - matchedAt < RECHECK_NANOS;
    for (ObjectName p : patterns) if (p != null && !matched.containsKey(p)) known = false;
    Future<Integer> count = readers().submit(() -> conn.getMBeanCount());
    // Per query: the read of each of its beans (null once it proved unregistered).
    List<Map<ObjectName, Future<Map<String, Object>>>> reads = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Map<ObjectName, Future<Map<String, Object>>> mine = new HashMap<>();
      reads.add(mine);
      if (known && patterns[i] != null && !namesOnly[i]) {
        for (ObjectName name : matched.get(patterns[i])) mine.put(name, readers().submit(readTask(name, wanted.get(i))));
      }
    }
    Map<ObjectName, Future<Set<ObjectName>>> queried = known ? null : queryAll(patterns);
    int countNow;
    try {
      countNow = await(count);
    } catch (SecurityException e) {
      // An access controller that refuses getMBeanCount but not queryNames: names every poll.
      countNow = -1;
    }
    if (queried == null && countNow != matchedCount) queried = queryAll(patterns);
    if (queried == null) {
      // A bean read from last time's names that is gone: something changed, look again.
      outer:
      for (Map<ObjectName, Future<Map<String, Object>>> mine : reads) {
        for (Future<Map<String, Object>> f : mine.values()) {
          if (await(f) == null) {
            queried = queryAll(patterns);
            break outer;
          }
        }
      }
    }
    if (queried != null) {
      matched.clear();
      for (Map.Entry<ObjectName, Future<Set<ObjectName>>> e : queried.entrySet()) matched.put(e.getKey(), new ArrayList<>(await(e.getValue())));
      matchedCount = countNow;
      matchedAt = System.nanoTime();
      for (int i = 0; i < n; i++) {
        if (patterns[i] == null || namesOnly[i]) continue;
        Map<ObjectName, Future<Map<String, Object>>> mine = reads.get(i);
        for (ObjectName name : matched.get(patterns[i])) if (!mine.containsKey(name)) mine.put(name, readers().submit(readTask(name, wanted.get(i))));
      }
    }
    for (int i = 0; i < n; i++) {
      if (patterns[i] == null) continue;
      List<Object> beans = new ArrayList<>();
      for (ObjectName name : matched.get(patterns[i])) {
        if (namesOnly[i]) {
          Map<String, Object> bean = new LinkedHashMap<>();
          bean.put("name", name.getCanonicalName());
          bean.put("props", new LinkedHashMap<String, Object>(name.getKeyPropertyList()));
          beans.add(bean);
          continue;
        }
        // Unregistered between the query and the read (a client closing): not there.
        Map<String, Object> bean = await(reads.get(i).get(name));
        if (bean != null) beans.add(bean);
      }
      results.get(i).put("beans", beans);
    }
    return new ArrayList<Object>(results);
  }

  /** One queryNames per distinct pattern, all at once. */
  private Map<ObjectName, Future<Set<ObjectName>>> queryAll(ObjectName[] patterns) {
    Map<ObjectName, Future<Set<ObjectName>>> q = new HashMap<>();
    for (ObjectName p : patterns) if (p != null && !q.containsKey(p)) q.put(p, readers().submit(() -> conn.queryNames(p, null)));
    return q;
  }

  private java.util.concurrent.Callable<Map<String, Object>> readTask(ObjectName name, List<Object> wanted) {
    return () -> readOrSkip(name, wanted);
  }

  private ExecutorService readers;

  private ExecutorService readers() {
    if (readers == null) {
      readers = Executors.newFixedThreadPool(READERS, r -> {
        Thread t = new Thread(null, r, "jmx-reader", 256 * 1024);
        t.setDaemon(true);
        return t;
      });
    }
    return readers;
  }

  private static final int READERS = 4;

  /** A bean's values, or null when it was unregistered between the query and the read (a client closing). */
  private Map<String, Object> readOrSkip(ObjectName name, List<Object> wanted) throws IOException {
    try {
      return readBean(name, wanted);
    } catch (InstanceNotFoundException e) {
      return null;
    }
  }

  private static <T> T await(Future<T> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while reading", e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException) throw (IOException) c;
      if (c instanceof SecurityException) throw (SecurityException) c;
      if (c instanceof RuntimeException) throw (RuntimeException) c;
      throw new IOException(c);
    }
  }

  private Map<String, Object> readBean(ObjectName name, List<Object> wanted) throws IOException, InstanceNotFoundException {
    Map<String, Object> bean = new LinkedHashMap<>();
    bean.put("name", name.getCanonicalName());
    bean.put("props", new LinkedHashMap<String, Object>(name.getKeyPropertyList()));
    Map<String, Object> values = new LinkedHashMap<>();
    Map<String, Object> errors = new LinkedHashMap<>();
    // "HeapMemoryUsage.used" reads HeapMemoryUsage (CompositeData) and takes its "used" item.
    List<String> requested = new ArrayList<>();
    if (wanted.isEmpty()) {
      requested.addAll(List.of(allAttributes(name)));
    } else {
      for (Object w : wanted) requested.add(String.valueOf(w));
    }
    List<String> base = new ArrayList<>();
    for (String r : requested) {
      String b = baseName(r);
      if (!base.contains(b)) base.add(b);
    }
    Map<String, Object> got = new HashMap<>();
    try {
      AttributeList list = conn.getAttributes(name, base.toArray(new String[0]));
      for (Attribute a : list.asList()) got.put(a.getName(), a.getValue());
    } catch (javax.management.ReflectionException e) {
      errors.put("*", "cannot read attributes: " + e.getMessage());
    }
    for (String r : requested) {
      String b = baseName(r);
      if (!got.containsKey(b)) {
        errors.put(r, "no such attribute (or it cannot be read)");
        continue;
      }
      Object v = got.get(b);
      if (!b.equals(r) && !(v instanceof CompositeData)) {
        // The name has a dot but the attribute is not composite: it may be a plain name with a dot.
        if (got.containsKey(r)) v = got.get(r);
      } else if (!b.equals(r)) {
        String item = r.substring(b.length() + 1);
        CompositeData cd = (CompositeData) v;
        if (!cd.containsKey(item)) {
          errors.put(r, "composite " + b + " has no item \"" + item + "\" (it has " + cd.getCompositeType().keySet() + ")");
          continue;
        }
        v = cd.get(item);
      }
      Object json = toJson(v);
      if (json == UNSUPPORTED) errors.put(r, "unsupported type " + (v == null ? "null" : v.getClass().getName()));
      else values.put(r, json);
    }
    bean.put("values", values);
    bean.put("errors", errors);
    return bean;
  }

  private String[] allAttributes(ObjectName name) throws IOException, InstanceNotFoundException {
    String[] cached = attributeNames.get(name);
    if (cached != null) return cached;
    try {
      MBeanAttributeInfo[] infos = conn.getMBeanInfo(name).getAttributes();
      List<String> names = new ArrayList<>();
      for (MBeanAttributeInfo i : infos) if (i.isReadable()) names.add(i.getName());
      cached = names.toArray(new String[0]);
    } catch (javax.management.IntrospectionException | javax.management.ReflectionException e) {
      cached = new String[0];
    }
    if (attributeNames.size() > 10_000) attributeNames.clear();
    attributeNames.put(name, cached);
    return cached;
  }

  private static String baseName(String requested) {
    int dot = requested.indexOf('.');
    return dot < 0 ? requested : requested.substring(0, dot);
  }

  private static final Object UNSUPPORTED = new Object();

  private static Object toJson(Object v) {
    if (v == null) return null;
    if (v instanceof Number) {
      double d = ((Number) v).doubleValue();
      return Double.isFinite(d) ? v : null; // NaN (no samples yet) and infinities read as null
    }
    if (v instanceof Boolean || v instanceof String) return v;
    if (v instanceof Character) return String.valueOf(v);
    return UNSUPPORTED;
  }

  static String kindOf(Throwable e) {
    // TLS and authentication first: RMI wraps them in connection errors.
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SecurityException) return "auth";
      if (t instanceof javax.net.ssl.SSLException) return "ssl";
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.SocketTimeoutException) return "timeout";
      if (t instanceof java.net.UnknownHostException) return "unreachable";
      if (t instanceof java.net.ConnectException || t instanceof java.rmi.ConnectException || t instanceof java.rmi.ConnectIOException) return "unreachable";
      if (t instanceof javax.naming.NameNotFoundException) return "not-found";
      if (t instanceof javax.naming.ServiceUnavailableException || t instanceof javax.naming.CommunicationException) return "unreachable";
      if (t instanceof MalformedURLException) return "bad-url";
    }
    return "io";
  }

  /** The exception's message, and its root cause when the message does not already say it. */
  static String describe(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
    String first = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    String rootText = root.getClass().getName() + (root.getMessage() == null ? "" : ": " + root.getMessage());
    String text = root == e || (root.getMessage() != null && first.contains(root.getMessage())) ? first : first + " (cause: " + rootText + ")";
    text = text.replaceAll("\\s+", " ");
    return text.length() > 600 ? text.substring(0, 600) + "..." : text;
  }

  private static Map<String, Object> error(String kind, String message) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("kind", kind);
    e.put("message", message);
    return e;
  }

  private static Map<String, Object> failure(String kind, String message) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("ok", false);
    r.put("error", error(kind, message));
    return r;
  }

  private void send(Map<String, Object> m) {
    StringBuilder sb = new StringBuilder(256);
    Json.write(m, sb);
    out.write(sb.append('\n').toString());
    out.flush();
  }
}
