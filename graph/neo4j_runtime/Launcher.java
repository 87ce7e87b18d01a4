import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

import inet.ipaddr.IPAddressString;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.internal.kernel.api.connectioninfo.ClientConnectionInfo;
import org.neo4j.internal.kernel.api.security.AuthenticationResult;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.api.security.AuthManager;
import org.neo4j.kernel.impl.security.User;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.logging.NullLogProvider;
import org.neo4j.memory.EmptyMemoryTracker;
import org.neo4j.server.security.FormatException;
import org.neo4j.server.security.SecureHasher;
import org.neo4j.server.security.SystemGraphCredential;
import org.neo4j.server.security.auth.CommunitySecurityModule;
import org.neo4j.server.security.auth.FileUserRepository;

/**
 * Runs Neo4j Community embedded, hardened, with Bolt on a loopback port behind a password.
 *
 * <pre>
 * java -cp 'LIB/*' Launcher.java --home DIR --port N --password-file FILE
 *      [--pagecache 512m] [--plugins DIR] [--tx-timeout-s 0]
 *      [--tx-memory-max BYTES] [--tx-memory-total BYTES] [--exit-on-stdin-eof]
 * </pre>
 *
 * Prints "ORGGRAPH-NEO4J-READY bolt://127.0.0.1:PORT" once the default database
 * is available and user neo4j has the password of FILE, or
 * "ORGGRAPH-NEO4J-FAILED reason" before exiting non-zero. With
 * --exit-on-stdin-eof it shuts down when stdin reaches EOF: the parent closed
 * it, or died (even by SIGKILL), so the database never outlives it.
 *
 * The database refuses on its own what the service's plan check also refuses
 * (docs/database-hardening.md): file URLs, every outgoing connection of LOAD CSV
 * and APOC, procedures and functions outside ALLOWED, APOC file import and
 * export, and transactions using more memory than --tx-memory-max (or, together,
 * --tx-memory-total).
 */
public class Launcher {
    static final String READY = "ORGGRAPH-NEO4J-READY";
    static final String FAILED = "ORGGRAPH-NEO4J-FAILED";
    // Apart from the JVM's own: 1 (uncaught exception), 3 (-XX:+ExitOnOutOfMemoryError).
    static final int EXIT_USAGE = 20;
    static final int EXIT_PORT_TAKEN = 21;
    static final int EXIT_START_FAILED = 22;
    static final int EXIT_STORE_LOCKED = 23;
    static final String USER = "neo4j";
    /** Neo4j's own credential format (salted, iterated SHA-256) of the last password confirmed. */
    static final String PASSWORD_MARKER = "orggraph-bolt-password.hash";
    static final int MIN_PASSWORD_LENGTH = 8;

    /**
     * The only procedures and functions Neo4j loads (dbms.security.procedures.allowlist):
     * what analysts' read-only Cypher and the service need. Everything else of APOC is not
     * registered at all: apoc.load/import/export (files, URLs), apoc.cypher/do/when/case/
     * periodic/graph.fromCypher/search (run Cypher built from text), apoc.trigger, apoc.log,
     * apoc.systemdb, apoc.spatial (geocoding over the network), apoc.util.sleep, apoc.xml
     * (external entities), apoc.warmup, apoc.lock, and the writing families (create, merge,
     * refactor, atomic, nodes.delete/link, schema.assert). Neo4j's built-in db.* and dbms.*
     * procedures are not subject to this list (they stay registered whatever it says).
     */
    static final List<String> ALLOWED = List.of(
        // APOC procedures of the analysts' allow-list (graph/cypher.py ALLOWED_PROCEDURES)
        "apoc.meta.*", "apoc.path.*", "apoc.neighbors.*", "apoc.algo.*", "apoc.coll.*",
        "apoc.stats.degrees", "apoc.help", "apoc.version",
        // APOC functions: values in, values out, no I/O, no Cypher
        "apoc.agg.*", "apoc.map.*", "apoc.text.*", "apoc.convert.*", "apoc.date.*",
        "apoc.temporal.*", "apoc.number.*", "apoc.math.*", "apoc.bitwise.op",
        "apoc.scoring.*", "apoc.json.path", "apoc.label.exists", "apoc.any.*", "apoc.node.*",
        "apoc.nodes.connected", "apoc.nodes.isDense", "apoc.nodes.relationship*",
        "apoc.rel.*", "apoc.util.md5", "apoc.util.sha*", "apoc.util.validatePredicate",
        "apoc.create.v*", "apoc.create.uuid*", "apoc.diff.nodes", "apoc.data.url");

    /**
     * The allowed APOC code that reads through Neo4j's internal API (degrees, ids, property
     * maps): without this it is not loaded ("sandboxed and has dependencies outside of the
     * sandbox" in debug.log). Nothing here writes, reads files or opens connections.
     */
    static final List<String> UNRESTRICTED = List.of(
        "apoc.meta.*", "apoc.any.*", "apoc.node.*", "apoc.nodes.connected", "apoc.nodes.isDense",
        "apoc.nodes.relationship*", "apoc.rel.*", "apoc.stats.degrees");

    /** APOC 5 reads its settings from the environment, then system properties, then apoc.conf. */
    static final Map<String, String> APOC_CONFIG = Map.of(
        "apoc.import.file.enabled", "false",
        "apoc.export.file.enabled", "false",
        "apoc.import.file.use_neo4j_config", "true",
        "apoc.trigger.enabled", "false");

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        Path home = Path.of(required(args, "--home")).toAbsolutePath();
        int port = Integer.parseInt(required(args, "--port"));
        String password = readPassword(Path.of(required(args, "--password-file")));
        Files.createDirectories(home);
        // The launching process passes a scrubbed environment; system properties beat apoc.conf.
        APOC_CONFIG.forEach(System::setProperty);

        AtomicReference<DatabaseManagementService> service = new AtomicReference<>();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DatabaseManagementService running = service.getAndSet(null);
            if (running != null) {
                System.out.println("ORGGRAPH-NEO4J-STOPPING");
                running.shutdown();
                System.out.println("ORGGRAPH-NEO4J-STOPPED");
            }
        }, "orggraph-shutdown"));
        if (args.containsKey("--exit-on-stdin-eof")) {
            watchStdin();
        }

        try {
            preparePassword(home, port, args, password, service);
            service.set(builder(home, port, args, true).build());
        } catch (RuntimeException error) {
            if (findCause(error, t -> t instanceof BindException
                    || String.valueOf(t.getMessage()).contains("Address already in use")) != null) {
                fail(EXIT_PORT_TAKEN, "bolt port 127.0.0.1:" + port + " is already in use", error);
            }
            if (findCause(error, t -> t.getClass().getSimpleName().equals("FileLockException")) != null) {
                fail(EXIT_STORE_LOCKED, "the store in " + home + " is locked by another process", error);
            }
            fail(EXIT_START_FAILED, "Neo4j did not start: " + findCause(error, t -> t.getCause() == null), error);
        }
        GraphDatabaseService db = service.get().database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(Duration.ofMinutes(10).toMillis())) {
            fail(EXIT_START_FAILED, "the default database did not become available", null);
        }
        confirmPassword(service.get(), home, password);
        System.out.println(READY + " bolt://127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join();
    }

    static DatabaseManagementServiceBuilder builder(
            Path home, int port, Map<String, String> args, boolean bolt) {
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, bolt)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            // By the time Bolt shuts down the databases are closed; its two default 5 s
            // grace periods would only make every stop 10 s slower.
            .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
            .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
            .setConfig(HttpConnector.enabled, false)
            .setConfig(HttpsConnector.enabled, false)
            .setConfig(GraphDatabaseSettings.auth_enabled, true)
            .setConfig(GraphDatabaseSettings.pagecache_memory, bytes(args.getOrDefault("--pagecache", "512m")))
            .setConfig(GraphDatabaseSettings.transaction_timeout,
                Duration.ofMillis((long) (1000 * Double.parseDouble(args.getOrDefault("--tx-timeout-s", "0")))))
            // A development store: don't reserve 256 MB of disk per transaction log up front.
            .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
            // LOAD CSV FROM 'file:///...' and APOC's file reads (use_neo4j_config) refused.
            .setConfig(GraphDatabaseSettings.allow_file_urls, false)
            // Every address, so LOAD CSV and APOC URL reads cannot connect anywhere (SSRF).
            // Neo4j 5.26 names it internal.dbms.cypher_ip_blocklist.
            .setConfig(GraphDatabaseInternalSettings.cypher_ip_blocklist,
                List.of(new IPAddressString("0.0.0.0/0"), new IPAddressString("::/0")))
            .setConfig(GraphDatabaseSettings.procedure_allowlist, ALLOWED)
            .setConfig(GraphDatabaseSettings.procedure_unrestricted, UNRESTRICTED);
        if (args.containsKey("--tx-memory-max")) {
            builder.setConfig(GraphDatabaseSettings.memory_transaction_max_size,
                bytes(args.get("--tx-memory-max")));
        }
        if (args.containsKey("--tx-memory-total")) {
            builder.setConfig(GraphDatabaseSettings.memory_transaction_global_max_size,
                bytes(args.get("--tx-memory-total")));
        }
        if (args.containsKey("--plugins")) {
            builder.setConfig(GraphDatabaseSettings.plugin_dir, Path.of(args.get("--plugins")).toAbsolutePath());
        }
        return builder;
    }

    // --- the Bolt password ---------------------------------------------------------------

    static String readPassword(Path file) throws IOException {
        String password = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (password.length() < MIN_PASSWORD_LENGTH) {
            usage("the password in " + file + " is shorter than " + MIN_PASSWORD_LENGTH + " characters");
        }
        return password;
    }

    /**
     * Before Bolt opens, make sure user neo4j will have {@code password}, so the default
     * neo4j/neo4j (with its forced change) is never reachable over Bolt. A new store gets it
     * as its initial password (the way `neo4j-admin dbms set-initial-password` writes it); a
     * store whose password was not confirmed for this password file is started once with
     * Bolt off to set it.
     */
    static void preparePassword(Path home, int port, Map<String, String> args, String password,
            AtomicReference<DatabaseManagementService> service) throws IOException {
        Path data = home.resolve("data");
        if (!Files.exists(data.resolve("databases").resolve(GraphDatabaseSettings.SYSTEM_DATABASE_NAME))) {
            writeInitialPassword(home, password);
            return;
        }
        if (markerMatches(data.resolve("dbms").resolve(PASSWORD_MARKER), password)) {
            return;
        }
        System.out.println("ORGGRAPH-NEO4J-SETTING-PASSWORD (Bolt stays closed until it is set)");
        DatabaseManagementService offline = builder(home, port, args, false).build();
        service.set(offline);
        try {
            if (!authenticates(offline, password)) {
                setPassword(offline, password);
            }
        } finally {
            service.set(null);
            offline.shutdown();
        }
    }

    /** With Bolt open: check the password once more (it may be changed over Bolt), record it. */
    static void confirmPassword(DatabaseManagementService service, Path home, String password)
            throws IOException {
        if (!authenticates(service, password)) {
            System.out.println("ORGGRAPH-NEO4J-PASSWORD-RESET user neo4j had another password; "
                + "it is set back to the password file's");
            setPassword(service, password);
            if (!authenticates(service, password)) {
                fail(EXIT_START_FAILED, "user neo4j does not accept the password file's password", null);
            }
        }
        Path marker = home.resolve("data").resolve("dbms").resolve(PASSWORD_MARKER);
        String credential = SystemGraphCredential.createCredentialForPassword(
            password.getBytes(StandardCharsets.UTF_8), new SecureHasher()).serialize();
        writePrivate(marker, credential);
        Files.deleteIfExists(initialPasswordFile(home));
    }

    static Path initialPasswordFile(Path home) {
        Config config = Config.newBuilder().set(GraphDatabaseSettings.neo4j_home, home).build();
        return CommunitySecurityModule.getInitialUserRepositoryFile(config);
    }

    static void writeInitialPassword(Path home, String password) throws IOException {
        Path file = initialPasswordFile(home);
        Files.createDirectories(file.getParent());
        Files.deleteIfExists(file);
        writePrivate(file, "");
        FileUserRepository repository = new FileUserRepository(new DefaultFileSystemAbstraction(),
            file, NullLogProvider.getInstance(), EmptyMemoryTracker.INSTANCE);
        try {
            repository.start();
            repository.create(new User(USER, null, SystemGraphCredential.createCredentialForPassword(
                password.getBytes(StandardCharsets.UTF_8), new SecureHasher()), false, false));
            repository.shutdown();
        } catch (Exception error) {
            throw new IOException("could not write " + file, error);
        }
    }

    static boolean markerMatches(Path marker, String password) throws IOException {
        if (!Files.exists(marker)) {
            return false;
        }
        try {
            return SystemGraphCredential.deserialize(Files.readString(marker).strip(), new SecureHasher())
                .matchesPassword(password.getBytes(StandardCharsets.UTF_8));
        } catch (FormatException error) {
            return false;
        }
    }

    static boolean authenticates(DatabaseManagementService service, String password) {
        GraphDatabaseAPI system = (GraphDatabaseAPI) service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        AuthManager auth = system.getDependencyResolver().resolveDependency(AuthManager.class);
        Map<String, Object> token = new LinkedHashMap<>();
        token.put("scheme", "basic");
        token.put("principal", USER);
        token.put("credentials", password.getBytes(StandardCharsets.UTF_8));
        try {
            return auth.login(token, ClientConnectionInfo.EMBEDDED_CONNECTION).subject()
                .getAuthenticationResult() == AuthenticationResult.SUCCESS;
        } catch (Exception error) {
            return false;
        }
    }

    static void setPassword(DatabaseManagementService service, String password) {
        GraphDatabaseService system = service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        Map<String, Object> params = Map.of("password", password);
        system.executeTransactionally(
            "CREATE USER neo4j IF NOT EXISTS SET PASSWORD $password CHANGE NOT REQUIRED", params);
        if (!authenticates(service, password)) {
            system.executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", params);
        }
    }

    static void writePrivate(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Path staging = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(staging);
        Files.createFile(staging, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(staging, text, StandardOpenOption.TRUNCATE_EXISTING);
        Files.move(staging, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    // --- process plumbing ----------------------------------------------------------------

    /** A daemon thread that exits the JVM (running the shutdown hook) on stdin EOF. */
    static void watchStdin() {
        Thread watcher = new Thread(() -> {
            InputStream in = System.in;
            byte[] buffer = new byte[256];
            try {
                while (in.read(buffer) != -1) {
                    // the parent writes nothing; only EOF matters
                }
            } catch (IOException ignored) {
                // a broken pipe means the parent is gone too
            }
            System.out.println("ORGGRAPH-NEO4J-STDIN-EOF");
            System.exit(0);
        }, "orggraph-stdin-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    static Throwable findCause(Throwable error, Predicate<Throwable> test) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (test.test(t)) {
                return t;
            }
        }
        return null;
    }

    static void fail(int code, String reason, Throwable error) {
        System.out.println(FAILED + " " + reason);
        System.out.flush();
        if (error != null) {
            error.printStackTrace();
        }
        System.exit(code);
    }

    static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String key = argv[i];
            if (key.equals("--exit-on-stdin-eof")) {
                args.put(key, "true");
            } else if (key.startsWith("--") && i + 1 < argv.length) {
                args.put(key, argv[++i]);
            } else {
                usage("unexpected argument " + key);
            }
        }
        return args;
    }

    static String required(Map<String, String> args, String key) {
        String value = args.get(key);
        if (value == null) {
            usage("missing " + key);
        }
        return value;
    }

    static void usage(String problem) {
        System.out.println(FAILED + " " + problem);
        System.err.println("usage: java -cp 'LIB/*' Launcher.java --home DIR --port N --password-file FILE"
            + " [--pagecache 512m] [--plugins DIR] [--tx-timeout-s 0] [--tx-memory-max BYTES]"
            + " [--tx-memory-total BYTES] [--exit-on-stdin-eof]");
        System.exit(EXIT_USAGE);
    }

    /** "512m", "1g", "64k" or a plain byte count. */
    static long bytes(String value) {
        String v = value.trim().toLowerCase();
        long unit = 1;
        char last = v.charAt(v.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            v = v.substring(0, v.length() - 1);
        }
        return Long.parseLong(v) * unit;
    }
}
