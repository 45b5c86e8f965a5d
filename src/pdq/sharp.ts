/** Thrown when PDQ needs sharp (an optional peer dependency) and it is not installed. */
export class SharpMissingError extends Error {
  constructor(cause: unknown) {
    super('install sharp to use PDQ (npm install sharp): it decodes JPEG, PNG, GIF and TIFF', {
      cause,
    });
    this.name = 'SharpMissingError';
  }
}
