import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy to a local Redis that can hold back its answers: while `hold()` lasts, the commands
 * of its clients reach Redis and run, but their replies wait in the proxy until `pass()`, in
 * order. As a client sees it when an answer is slow to come back (a congested network, an event
 * loop busy past its deadline), while Redis has already acted.
 */
export interface ReplyHoldingProxy {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  hold(): void;
  /** Delivers the held replies, in order, and lets the next ones through. */
  pass(): void;
  close(): Promise<void>;
}

export async function startReplyHoldingProxy(redisPort: number): Promise<ReplyHoldingProxy> {
  let holding = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (holding) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    hold() {
      holding = true;
    },
    pass() {
      holding = false;
      for (const deliver of held.splice(0)) deliver();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
