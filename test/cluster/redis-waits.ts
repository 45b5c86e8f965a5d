import type { Redis } from 'ioredis';

/** The commands an ioredis client sent, and the waits on Redis among them. */
export interface RedisWaits {
  /** Commands sent (a script is one). */
  commands: number;
  /**
   * Commands sent while none of the client's was outstanding: each starts a wait on Redis of
   * whoever sent it (commands sent together, or while another is out, share that wait). One
   * caller at a time, the number of round trips it waited for, one after another.
   */
  serial: number;
  /** Commands sent, by name (`eval`, `evalsha`, `set`, …). */
  byName: Map<string, number>;
  /** Commands sent and not answered yet (sent by a caller that does not wait for them). */
  readonly outstanding: number;
  reset(): void;
}

/** Counts what `client` sends from now on (its `sendCommand`, which every command goes through). */
export function countRedisWaits(client: Redis): RedisWaits {
  let outstanding = 0;
  const waits: RedisWaits = {
    commands: 0,
    serial: 0,
    byName: new Map(),
    reset() {
      waits.commands = 0;
      waits.serial = 0;
      waits.byName.clear();
    },
    get outstanding() {
      return outstanding;
    },
  };
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command, stream) => {
    waits.commands++;
    if (outstanding === 0) waits.serial++;
    outstanding++;
    waits.byName.set(command.name, (waits.byName.get(command.name) ?? 0) + 1);
    const settled = () => {
      outstanding--;
    };
    command.promise.then(settled, settled);
    return send(command, stream);
  }) as typeof client.sendCommand;
  return waits;
}
