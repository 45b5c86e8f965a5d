/**
 * Expected PDQ output for the fixtures of test/fixtures/pdq, from Meta's C++ reference
 * (facebook/ThreatExchange pdq/cpp, `pdqDihedralHash256esFromFloatLuma` at full resolution; these
 * fixtures are all under the reference CLI's 512-pixel resize threshold, so its `--pdqdih` output
 * is the same). PNG, BMP and JPEG were read by the reference's own CImg loader (libpng, libjpeg);
 * GIF and TIFF, which its build cannot read, from the exact pixels written by generate.ts --ppm.
 * Order of the dihedral hashes: original, rotate90, rotate180, rotate270, flipX, flipY,
 * flipPlus1, flipMinus1.
 */
export interface ReferenceHash {
  file: string;
  lossless: boolean;
  quality: number;
  dihedral: readonly string[];
}

export const REFERENCE: readonly ReferenceHash[] = [
  {
    file: 'scene1.png',
    lossless: true,
    quality: 100,
    dihedral: [
      'f8bafd904d92a85f58aa017586d10bf0706af07e497447858f48fa65fa6dc968',
      'd24f1708d0c63739f92f9de7031e9ac6eb10e8108de7089f98cbeb89b8c0e9e9',
      'adcf173818c702f50def2bd7d384a15a253f1ad41c21ad2fda1d50c7ae3863c2',
      '871abde285939d93ac7a374d564b306ebe4542bad8b2a235cd9e4123ed954343',
      'f8ba026f4d9257a058aafe8a86d1f40f706a4f814974b87a8f48059afb6d3697',
      'adefa8c518c7fd0a0dff5420d3845ea5253fa52b1c2112d0da1daf30af389c3d',
      'd24fe8f7d0c6c8c6f92f6218031e6539eb1017ef8de7f76098cb1476b8c01616',
      '831a020d8593626cac7ac8b2564bcf91be45bd4558b255cac99abedcad95bcbc',
    ],
  },
  {
    file: 'scene2-grey.png',
    lossless: true,
    quality: 100,
    dihedral: [
      '9ed220e3096ad30e642a9e1e5a6526f460e551a513839b163f16b74fb72ab5fa',
      '9417e53f498f6900a61862f0973ecd80c1e11c5a6bc37ae63c07e823fc3fbd1b',
      'cb878a495c3f75a4317f34b40e308c5e25b0fb0f469631bc6a431dc5e27f1f50',
      'c16a4f953edac3aaf36dd85ac26b672a94b4b6f03e96d04c69524289a96a17b1',
      '9ed2df1c296a2cf1642a61e17b65d90b70e5ae5a9bc364e9bf1648b0b72a4a05',
      'cb8775b65c3f825b317fcb4b0e3073a125b004f04696ce436a43e21ae27fe0af',
      '94171ac0498f967fa6188d0f973e307fc1e1e3856bc385193c0717dcfc3f42e4',
      'c142b06a1cda3c55e34d37a5c26b98d594b4490f3e922fb36952bd76a96ae84e',
    ],
  },
  {
    file: 'scene4-rgb24.bmp',
    lossless: true,
    quality: 100,
    dihedral: [
      'cb81ba95afd1b07519dc717c063cfba36a998e81ba15439d635918fa70e214f8',
      'f160fa6574aab2d8c9e4ddbee3f852e7e9d7c3f0170781420e9da1cf01060e07',
      'ded4103ff2840adf4c89dbd6536971093fcc242bef40e937360cb25025b7be52',
      'a535d0cf21ff1872bcb17714b6adf84dbc82695a42522be85bc82b655453a4ad',
      'cb81456aafd55f8a19dc8e83063ca45c6a99717eba15bc626359e70570e2eb07',
      'ded4efc0f284f5204c89242953698ef63fccdbd4ef4016c8360c4daf25b741ad',
      'f160859a75aa5d27e9e42241e3f8ad18e9d73c0f17077ebd0e9d5e300106f1f8',
      'a435af3021ffe78d9cb188ebb6ad07b2bc8296a54252d4175bc8f49a54535b52',
    ],
  },
  {
    file: 'scene4-rgb32-top-down.bmp',
    lossless: true,
    quality: 100,
    dihedral: [
      'cb81ba95afd1b07519dc717c063cfba36a998e81ba15439d635918fa70e214f8',
      'f160fa6574aab2d8c9e4ddbee3f852e7e9d7c3f0170781420e9da1cf01060e07',
      'ded4103ff2840adf4c89dbd6536971093fcc242bef40e937360cb25025b7be52',
      'a535d0cf21ff1872bcb17714b6adf84dbc82695a42522be85bc82b655453a4ad',
      'cb81456aafd55f8a19dc8e83063ca45c6a99717eba15bc626359e70570e2eb07',
      'ded4efc0f284f5204c89242953698ef63fccdbd4ef4016c8360c4daf25b741ad',
      'f160859a75aa5d27e9e42241e3f8ad18e9d73c0f17077ebd0e9d5e300106f1f8',
      'a435af3021ffe78d9cb188ebb6ad07b2bc8296a54252d4175bc8f49a54535b52',
    ],
  },
  {
    file: 'scene4-pal8.bmp',
    lossless: true,
    quality: 100,
    dihedral: [
      'db81aa55afc1f077095c735ec63cdfa368998e013a05639d635818fa78e29ce8',
      'f341686574ba6ad8a9e7dcbea77852e7a19783f01307a1630e9da1cf15060e0f',
      '8ed402fffa941add5c09d9f4936971093dcc24ab6f50c937364db2502db73642',
      'b615d2cf21efc072fcb27714f22df84df4c2695a46522fc95bc88b654053a4a5',
      'db855feaafd1cf88095c8cb1c63c245c689971fe3a059c626358e70578e2e317',
      '8ed4f500fa94a5225c09260b93698af63dccdb546f5036c8360d4daf2db7c9bd',
      'f341979a74ba9527e9e72341e778ad18a1977c0f13075e9c0e9d5e301506f1f0',
      'a6142d3021ef3f8dbcb288ebf22d07b2f4c2d6ad4652f4365bc8f49a40535b5a',
    ],
  },
  {
    file: 'gradient.png',
    lossless: true,
    quality: 0,
    dihedral: [
      '9bd5b50f8155658d5535d50cbb77c50aabfde18c0d75590832818857a2bfe8e2',
      'e7cfe2ae5edf31e782b5a2df828b000f92cb5d5a2aa3555955d2011957570551',
      'ce801fa5d420cf2720607fa7eea26fa0fea84b265820f3a2e7d426fdf7ea4248',
      'b2924804038a9b4dd6e0085157deaaa5c59ef7f05ff6fff30087abb20202abfb',
      '99d54af081559a7055350af0bb7732f5abfd1e71097586f5328153a8a2bf1519',
      'ce80e05ad42030da2060a05beea2905ffea8b4db58202c5fe7d4fd02f7eabfb7',
      'e7c71d5152cbce1882b55d20828afff090cba2a50aa3aaa655d2fee64307faae',
      'b29ab7fb0f9e64b2d7e0f78ed7df555ac79e080f7ff6000c0087544c16525404',
    ],
  },
  {
    file: 'scene6.jpg',
    lossless: false,
    quality: 100,
    dihedral: [
      'eb32dd85338c4f3241093334459765b492233dd9cdba6dce5e38d126370cacf3',
      'c0a5e4c3a5539b31d279ac84b48a00896371ffae95ade896287a99e992b5f53e',
      '3e65332e66d9e598145c999e00c2cf1ac776977398efc3640b6d7b8c62590659',
      '95f0ce69f406339b872c463ee5dfaa2336255504c0f8c23c7d2f3343c7e05f94',
      'eb32667b338cb0cd4109eecb5d979a4f9223c226cdba96315e382ed9370c538c',
      'fe77c8d166d91a67145c666118c230e5c776688c98ef389b0b6d84736259f9a6',
      'c0a5db3ca55364ced079537bb48aff766371005195ad9769287a671692b54ac1',
      '15f03196f006cc64852cb9c1e1df55dc3624aafbc0f83dc37d2fccbc47e0a06b',
    ],
  },
  {
    file: 'scene1.jpg',
    lossless: false,
    quality: 100,
    dihedral: [
      'f8bafd904d82a85f58aa017586d10bf0786af07e497447858f48fa65fa6dc968',
      'd24f1708d0c63739f9af9de7031e9ac4eb10e8108de7089f98cbeb89b8c0e9e9',
      'ad4f173818c702f50def2bd7d384a15a2d3f1ad41c21ad2fda1d50c7ae3863c2',
      '871abde285939d93acfa374d564b306cbe4542bad8b2a235cd9e4123ed954343',
      'f8ba026f4d9257a058aafe8a86d1f40f786a4f814974b87a8f48059afa6d3697',
      'adefa8c518c7fd0a0dff5420d3845ea52d3fa52b1c2112d0da1daf30ae389c3d',
      'd24fe8f7d0c6c8c6f9af6218031e6539eb1017ef8de7d76098cb1476b8c01616',
      '831a020d8593626cacfac8b2564bcf913e45bd4558b255cac99abedcad95bcbc',
    ],
  },
  {
    file: 'scene3.gif',
    lossless: true,
    quality: 100,
    dihedral: [
      '29d99211ed76ac8519392d393f49f279f2e6bde4252509b91c99243be406e5e6',
      '73c3de7cb7ef3437fe58c9904380518e90d95c3e3df512e38f1ccf1c208700c3',
      '7ccc38bbb827062f4c6c8793ea1c58d3a7b3174e70f0a71369cc8e91b1534f4c',
      '249674d6e2b29e9dab0d633a16d5fb24c58cf69468a0b849da4965b675d2aa69',
      '39d965eeed77535a1939d2c63f490d86f2e6421b2525f6461c99dbc4e4061a19',
      '6c8ccf44b822f9f04c6c786cea1ca72ca7b3e8b170705cec69cc716eb153b0b3',
      '71c32183b7e74bc8be58366f4380ae7190d9a3c12df5ed1c8f1c30e32087df3c',
      '26968b29e2bae162eb0d9cd516d504dbc5ac896b78a047b6da49ba4975d27596',
    ],
  },
  {
    file: 'scene5.tiff',
    lossless: true,
    quality: 100,
    dihedral: [
      '18ccc38d6f71909ee984967939d3cce3e6d018798ca6e2125cb1afce9a53a53c',
      '5db796632a9569b5ab6e9a52649695fadbac58392569c924d44527da13368835',
      '4d996d273a253a35bcf13cd36c866649b385b2d3d9f348b809ec4564cf060f96',
      '08e23ccd7fc0c31ffe3b70f831c33f508ef9f293703c638e81188d704663329f',
      '18cc3c726f716f61e984698639d3331ce6d1e7868ca61ded5cb950319a535ac3',
      '4d9992d83a24c5cabcd1c32c6c8699b6b3844d2cd9f3b74709e4ba9bcf06f069',
      '5db769982a95964aab6e25ad64966a05dbaca7c6256936dbd445d8251336674a',
      '08e2c3367fc03ce0fe3bcf0731c3c0af8ef90d6c783c9c718118728f4663fde0',
    ],
  },
];
